from django import template
from django.utils.translation import gettext as _

from journeys.views import NODE_LABELS

register = template.Library()


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key) or {}


@register.filter
def node_label(kind):
    return dict(NODE_LABELS).get(kind, kind)


@register.filter
def node_summary(node):
    config = node.get("config") or {}
    kind = node.get("type")
    if kind == "delay":
        parts = []
        for key, label in (("days", _("天")), ("hours", _("小時")), ("minutes", _("分鐘"))):
            if str(config.get(key) or "0") not in ("0", ""):
                parts.append(f"{config[key]} {label}")
        return _("等待 %(t)s") % {"t": " ".join(parts) or "—"}
    if kind == "tags":
        add, remove = config.get("add") or [], config.get("remove") or []
        return _("新增：%(a)s／移除：%(r)s") % {"a": "、".join(add) or "—", "r": "、".join(remove) or "—"}
    if kind == "attribute":
        return f"{config.get('key') or '—'} = {config.get('value') or ''}"
    if kind == "points":
        verb = _("增加") if config.get("op") == "add" else _("扣除")
        return _("%(verb)s %(n)s 點") % {"verb": verb, "n": config.get("amount") or "—"}
    if kind == "split":
        return _("%(n)s 個條件") % {"n": len((config.get("conditions") or {}).get("children") or [])}
    if kind == "message":
        if config.get("kind") == "whatsapp_template":
            return _("WhatsApp 訊息範本 #%(id)s") % {"id": config.get("template_id") or "—"}
        return _("機器人模組 #%(id)s") % {"id": config.get("module_id") or "—"}
    return ""


@register.filter
def pct(value):
    if value in (None, ""):
        return "—"
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def in_zone(value, team):
    """A datetime in the team's time zone (templates: {{ dt|in_zone:current_team|date:"Y-m-d H:i" }})."""
    if value is None or team is None:
        return value
    return team.localtime(value)
