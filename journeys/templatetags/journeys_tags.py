from django import template
from django.utils.translation import gettext as _
from django.utils.translation import npgettext

from journeys import labels
from messaging.models import ChatbotModule, WhatsAppTemplate

register = template.Library()


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key) or {}


@register.filter
def node_label(kind):
    return labels.node_label(kind)


@register.filter
def outcome_label(code):
    return labels.OUTCOME_LABELS.get(code, code)


@register.simple_tag
def node_name(position, kind):
    """ "第 3 個節點（訊息）": the builder's name for a node (labels.node_name)."""
    return labels.node_name(position, kind)


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
        return _message_summary(config, None, None)
    return ""


def _message_summary(config, modules, templates):
    """The message node's content by name (issue 20.15): never an id, "choose …" when none is chosen yet."""
    if config.get("kind") == "whatsapp_template":
        template_id = config.get("template_id")
        if not template_id:
            return _("請選擇訊息範本")
        if templates is None:  # no names at hand (a bare filter): the kind only, never the id
            return _("WhatsApp 訊息範本")
        return _("WhatsApp 訊息範本：%(name)s") % {"name": templates.get(template_id) or _("已刪除的範本")}
    module_id = config.get("module_id")
    if not module_id:
        return _("請選擇機器人模組")
    if modules is None:
        return _("機器人模組")
    return _("機器人模組：%(name)s") % {"name": modules.get(module_id) or _("已刪除的模組")}


@register.simple_tag(takes_context=True)
def node_text(context, node):
    """node_summary with the names of the team's modules and templates (looked up once per render)."""
    if node.get("type") != "message":
        return node_summary(node)
    cache = context.render_context
    if "journey_content_names" not in cache:
        journey = context.get("journey")
        team = getattr(journey, "team", None)
        modules = dict(ChatbotModule.objects.for_team(team).values_list("pk", "name")) if team else {}
        templates = dict(WhatsAppTemplate.objects.for_team(team).values_list("pk", "name")) if team else {}
        cache["journey_content_names"] = (modules, templates)
    modules, templates = cache["journey_content_names"]
    config = node.get("config") or {}
    try:
        config = {**config, "module_id": int(config["module_id"])} if config.get("module_id") else config
        config = {**config, "template_id": int(config["template_id"])} if config.get("template_id") else config
    except (TypeError, ValueError):
        pass
    return _message_summary(config, modules, templates)


@register.simple_tag(takes_context=True)
def readable_errors(context, errors):
    """[(where, messages)] for the builder: a node named by its position and type ("第 2 個節點（訊息）"), a setting by
    its label, never a node code or raw field key (issue 20.15; labels.error_where)."""
    journey = context.get("journey")
    graph = (
        (journey.draft_graph or (journey.current_version.graph if journey.current_version else {})) if journey else {}
    )
    positions = labels.node_positions(graph)
    shown = []
    for key, messages in (errors or {}).items():
        messages = messages if isinstance(messages, list | tuple) else [messages]
        shown.append((labels.error_where(graph, key, positions), messages))
    return shown
