from django import template
from django.utils.translation import gettext as _
from django.utils.translation import npgettext

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
        units = (
            ("days", lambda n: npgettext("delay", "%(n)s 天", "%(n)s 天", n)),
            ("hours", lambda n: npgettext("delay", "%(n)s 小時", "%(n)s 小時", n)),
            ("minutes", lambda n: npgettext("delay", "%(n)s 分鐘", "%(n)s 分鐘", n)),
        )
        parts = []
        for key, unit in units:
            try:
                n = int(config.get(key) or 0)
            except (TypeError, ValueError):
                parts.append(str(config[key]))  # not saved yet: validation names it
                continue
            if n:
                parts.append(unit(n) % {"n": n})
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
