from django import forms
from django.utils.translation import gettext_lazy as _

from cdp.models import Channel

from .models import CAMPAIGN_CHANNEL_KINDS


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("活動名稱"), max_length=200)
    source_channel = forms.ModelChoiceField(label=_("來源渠道"), queryset=Channel.objects.none())
    target_channel = forms.ModelChoiceField(label=_("目標渠道"), queryset=Channel.objects.none())
    image_url = forms.URLField(label=_("卡片圖片網址"), max_length=1000, assume_scheme="https")
    title = forms.CharField(label=_("卡片標題"), max_length=80)
    text = forms.CharField(label=_("卡片文字"), max_length=400, required=False, widget=forms.Textarea({"rows": 3}))
    button_label = forms.CharField(label=_("按鈕文字"), max_length=20)
    integration_message = forms.CharField(
        label=_("整合訊息"), max_length=500, help_text=_("顧客在目標渠道送出的訊息；系統會在訊息後加上整合代碼。")
    )
    confirmation_message = forms.CharField(
        label=_("整合成功回覆訊息"), max_length=1000, required=False, widget=forms.Textarea({"rows": 2})
    )
    completion_hours = forms.IntegerField(label=_("完成整合時限（小時）"), min_value=1, max_value=720, initial=24)
    ends_at = forms.DateTimeField(
        label=_("結束時間"), required=False, widget=forms.DateTimeInput({"type": "datetime-local"})
    )
    is_enabled = forms.BooleanField(label=_("啟用"), required=False, initial=True)

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        channels = Channel.objects.for_team(team).filter(kind__in=CAMPAIGN_CHANNEL_KINDS).order_by("kind", "name")
        self.fields["source_channel"].queryset = channels
        self.fields["target_channel"].queryset = channels

    @classmethod
    def initial_for(cls, campaign):
        card = campaign.card
        return {
            "name": campaign.name,
            "source_channel": campaign.source_channel_id,
            "target_channel": campaign.target_channel_id,
            **{key: card.get(key, "") for key in ("image_url", "title", "text", "button_label")},
            "integration_message": campaign.integration_message,
            "confirmation_message": campaign.confirmation_message,
            "completion_hours": campaign.completion_hours,
            "ends_at": campaign.ends_at,
            "is_enabled": campaign.is_enabled,
        }

    def service_kwargs(self):
        data = self.cleaned_data
        return {
            "name": data["name"],
            "source_channel": data["source_channel"],
            "target_channel": data["target_channel"],
            "card": {key: data.get(key) or "" for key in ("image_url", "title", "text", "button_label")},
            "integration_message": data["integration_message"],
            "confirmation_message": data.get("confirmation_message") or "",
            "completion_hours": data["completion_hours"],
            "ends_at": data.get("ends_at"),
            "is_enabled": data.get("is_enabled", False),
        }


class RangeForm(forms.Form):
    """參與時間 (first click) range of the statistics page, lists and export."""

    start = forms.DateField(label=_("開始日期"), required=False, widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(label=_("結束日期"), required=False, widget=forms.DateInput({"type": "date"}))
