"""Parsing the builder's HTML forms into service arguments (settings, node configs; split conditions come from
audiences' condition builder)."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.forms import TeamDateTimeField
from audiences.builder import tree_from_form
from messaging.services.content import wechat_data_from_text


class FormError(Exception):
    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


class SettingsForm(forms.Form):
    """The numbers and times of the settings form, parsed by Django (times typed in the team's zone)."""

    per_customer_limit = forms.IntegerField(required=False, error_messages={"invalid": gettext_lazy("請輸入整數。")})
    holdout_percent = forms.IntegerField(required=False, error_messages={"invalid": gettext_lazy("請輸入整數。")})
    starts_at = TeamDateTimeField(required=False, error_messages={"invalid": gettext_lazy("日期時間格式錯誤。")})
    ends_at = TeamDateTimeField(required=False, error_messages={"invalid": gettext_lazy("日期時間格式錯誤。")})

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["starts_at"].zone = self.fields["ends_at"].zone = team.zone


def settings_values(post, journey, team):
    """Builder settings form → update_settings(values=...)."""
    form = SettingsForm(post, team=team)
    form.is_valid()
    errors = {field: list(messages) for field, messages in form.errors.items()}
    parsed = form.cleaned_data
    values = {
        "name": post.get("name", ""),
        "expiry_action": post.get("expiry_action", journey.expiry_action),
        "per_customer_limit": parsed.get("per_customer_limit"),
        "holdout_percent": parsed.get("holdout_percent") or 0,
    }
    starts = post.getlist("dnd_start")
    ends = post.getlist("dnd_end")
    values["dnd_segments"] = [
        [s.strip(), e.strip()] for s, e in zip(starts, ends, strict=False) if s.strip() or e.strip()
    ]
    if journey.status == "draft":
        values["trigger_type"] = post.get("trigger_type", journey.trigger_type)
        values["trigger_config"] = trigger_config(post, values["trigger_type"])
        values["activation"] = post.get("activation", journey.activation)
        if values["activation"] == "scheduled":
            values["starts_at"] = parsed.get("starts_at")
            values["ends_at"] = parsed.get("ends_at")
            if not values["starts_at"]:
                errors.setdefault("starts_at", [_("請設定開始時間。")])
            if not values["ends_at"]:
                errors.setdefault("ends_at", [_("請設定結束時間。")])
        else:
            values["starts_at"] = values["ends_at"] = None
    if journey.status == "draft":  # target channels (and their caps) are only editable in a draft
        channel_ids = post.getlist("channel")
        values["channels"] = [{"channel_id": cid, "message_cap": post.get(f"cap_{cid}", "")} for cid in channel_ids]
    if errors:
        raise FormError(errors)
    return values


def trigger_config(post, trigger_type):
    if trigger_type == "checkout_completed":
        return {
            "item_name_contains": post.get("item_name_contains", "").strip(),
            "amount_gte": post.get("amount_gte", "").strip(),
            "amount_lte": post.get("amount_lte", "").strip(),
        }
    if trigger_type == "tag_added":
        return {"tags": _names(post.get("trigger_tag", ""))}
    if trigger_type == "attribute_changed":
        return {"key": post.get("trigger_key", "").strip(), "value": post.get("trigger_value", "").strip()}
    if trigger_type == "system":
        return {"name": post.get("system_name", "").strip()}
    return {}


def _names(value):
    return [part.strip() for part in (value or "").replace("，", ",").split(",") if part.strip()]


def _number(value):
    """Digits become an int, as graph.py stores them; anything else stays as typed so validation names it."""
    value = (value or "").strip()
    return int(value) if value.isdecimal() else (value or None)


def node_config(node_type, post):
    """Drawer form → node config (validated by services.update_node)."""
    if node_type == "delay":
        return {part: _number(post.get(part) or "0") for part in ("days", "hours", "minutes")}
    if node_type == "tags":
        return {"add": _names(post.get("add")), "remove": _names(post.get("remove"))}
    if node_type == "attribute":
        return {"key": post.get("key", "").strip(), "value": post.get("value", "")}
    if node_type == "points":
        return {"op": post.get("op", "add"), "amount": _number(post.get("amount"))}
    if node_type == "message":
        if post.get("kind") == "wechat_template":
            config = {
                "channel_id": _number(post.get("channel_id")),
                "kind": "wechat_template",
                "template_id": post.get("wechat_template_id", "").strip(),
                "data": wechat_data_from_text(post.get("wechat_data")),
            }
            url = post.get("wechat_url", "").strip()
            return {**config, "url": url} if url else config
        params = [line.strip() for line in post.get("parameters", "").splitlines() if line.strip()]
        return {
            "channel_id": _number(post.get("channel_id")),
            "kind": post.get("kind", "module"),
            "module_id": _number(post.get("module_id")),
            "template_id": _number(post.get("template_id")),
            "parameters": params,
        }
    if node_type == "split":
        # The audiences condition builder's fields (r.kind, r.op, r.0.type, ...) → the stored JSON tree.
        tree = tree_from_form(post)
        if tree is None:
            raise FormError({"conditions": [_("請設定分眾條件。")]})
        return {"conditions": tree}
    return {}
