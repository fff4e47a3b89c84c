"""The broadcast editor's HTML form → audiences.services.save_broadcast arguments (ids, date and action parsing).

Parsing only: what may be saved (name, channel, content, audience, schedule) is decided by the service."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import TeamDateTimeField
from cdp.models import Channel
from messaging.services.content import CONTENT_CHANNEL_KINDS, wechat_data_from_text

from .models import BROADCAST_CONTENT_TYPES, PACK_CHANNEL_KINDS, AudiencePack

ACTIONS = ("save", "apply_custom", "schedule", "send_now")
# Each content type is offered on the channel kinds messaging renders it for (the editor's data-kinds).
CONTENT_TYPE_KINDS = {t: " ".join(CONTENT_CHANNEL_KINDS[t]) for t in BROADCAST_CONTENT_TYPES}


class BroadcastForm(forms.Form):
    name = forms.CharField(required=False)
    channel = forms.IntegerField(required=False, min_value=1)
    pack = forms.IntegerField(required=False, min_value=1)
    custom = forms.CharField(required=False)
    content_type = forms.ChoiceField(choices=[(t, t) for t in BROADCAST_CONTENT_TYPES], required=False)
    module_id = forms.IntegerField(required=False, min_value=1)
    template_id = forms.IntegerField(required=False, min_value=1)
    parameters = forms.CharField(required=False, strip=False)
    # WeChat template message (a WeChat channel's broadcast: outside the 48-hour window nothing else is delivered)
    wechat_template_id = forms.CharField(required=False, max_length=200)
    wechat_data = forms.CharField(required=False, strip=False)
    wechat_url = forms.CharField(required=False, max_length=2000)
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS], required=False)
    scheduled_at = TeamDateTimeField(required=False, error_messages={"invalid": _("請填入發送時間。")})

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["scheduled_at"].zone = team.zone

    def clean(self):
        data = super().clean()
        data["action"] = data.get("action") or "save"
        if data["action"] == "schedule" and not data.get("scheduled_at") and "scheduled_at" not in self.errors:
            self.add_error("scheduled_at", _("請填入發送時間。"))
        return data

    def pack_object(self):
        pack_id = self.cleaned_data.get("pack")
        return AudiencePack.objects.for_team(self.team).filter(pk=pack_id).first() if pack_id else None

    def channel_object(self):
        """The posted channel (the pack's channel when a pack is chosen): None when it is not the team's."""
        pack = self.pack_object()
        if pack is not None:
            return pack.channel
        channel_id = self.cleaned_data.get("channel")
        channels = Channel.objects.for_team(self.team).filter(kind__in=PACK_CHANNEL_KINDS)
        return channels.filter(pk=channel_id).first() if channel_id else None

    def content(self):
        """The outbox content chosen, or {} when none is."""
        data = self.cleaned_data
        if data.get("content_type") == "module" and data.get("module_id"):
            return {"type": "module", "module_id": data["module_id"]}
        if data.get("content_type") == "whatsapp_template" and data.get("template_id"):
            parameters = [p.strip() for p in (data.get("parameters") or "").split("\n") if p.strip()]
            return {"type": "whatsapp_template", "template_id": data["template_id"], "parameters": parameters}
        wechat = [data.get(f) for f in ("wechat_template_id", "wechat_data", "wechat_url")]
        if data.get("content_type") == "wechat_template" and any(v and v.strip() for v in wechat):
            content = {
                "type": "wechat_template",
                "template_id": wechat[0].strip(),
                "data": wechat_data_from_text(wechat[1]),
            }
            return {**content, "url": wechat[2].strip()} if wechat[2].strip() else content
        return {}

    def error_dict(self):
        """{field: first message}, as the editor shows errors."""
        return {field: messages[0] for field, messages in self.errors.items()}
