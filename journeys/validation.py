"""Validation of journey settings and nodes. Every function returns {field: message}; empty means valid."""

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from audiences.conditions import ConditionError, validate
from cdp.models import AttributeType, Channel, CustomAttribute
from messaging.services.content import check_sendable

from .graph import NODE_TYPES, iter_nodes
from .models import MAX_TRIGGER_TAGS, normalize_trigger_config

TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def policy_segments(segments):
    """The journey's DND segments for messaging.policy.check_send. An end of "23:59" means the end of that day
    (seed 002's example: 23:00~23:59 plus 00:00~08:00 is one window over midnight), so it becomes "24:00"."""
    return [(start, "24:00" if end == "23:59" else end) for start, end in (segments or ())]


def minutes_of(value):
    match = TIME_RE.match(value or "")
    if not match:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def validate_dnd(segments):
    """Segments [start, end] in HH:MM (team's zone), start before end; a window over midnight is two segments."""
    errors = {}
    parsed = []
    for index, segment in enumerate(segments or []):
        if not isinstance(segment, list | tuple) or len(segment) != 2:
            errors[f"dnd_segments[{index}]"] = _("勿擾時段需要開始與結束時間。")
            continue
        start, end = minutes_of(segment[0]), minutes_of(segment[1])
        if start is None or end is None:
            errors[f"dnd_segments[{index}]"] = _("時間格式需為 HH:MM。")
        elif start >= end:
            errors[f"dnd_segments[{index}]"] = _("結束時間需晚於開始時間；跨日的勿擾時段請分兩段設定。")
        else:
            parsed.append((start, end, index))
    parsed.sort()
    for (_s1, e1, _i1), (s2, _e2, i2) in zip(parsed, parsed[1:], strict=False):
        if s2 < e1:
            errors[f"dnd_segments[{i2}]"] = _("勿擾時段互相重疊。")
    return errors


def _positive_int(value):
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def validate_node(team, node, channel_ids):
    """Per-node validation (seed 002 §2). `channel_ids`: the journey's target channel ids."""
    kind = node.get("type")
    config = node.get("config") or {}
    if kind not in NODE_TYPES:
        return {"type": _("未知的節點類型。")}
    return {
        "message": _validate_message,
        "delay": _validate_delay,
        "split": _validate_split,
        "tags": _validate_tags,
        "attribute": _validate_attribute,
        "points": _validate_points,
    }[kind](team, config, channel_ids)


def _validate_delay(team, config, channel_ids):
    values = [_positive_int(config.get(part)) for part in ("days", "hours", "minutes")]
    if any(value is None for value in values):
        return {"delay": _("日、小時、分鐘需為 0 以上的整數。")}
    if sum(values) == 0:
        return {"delay": _("時間延遲需至少填入一欄，且不能為 0。")}
    return {}


def _validate_tags(team, config, channel_ids):
    add = [name.strip() for name in config.get("add") or [] if name.strip()]
    remove = [name.strip() for name in config.get("remove") or [] if name.strip()]
    if not add and not remove:
        return {"add": _("請至少設定一個要新增或移除的標籤。")}
    both = sorted(set(add) & set(remove))
    if both:
        return {"remove": _("新增與移除，不能填入相同標籤：%(tags)s") % {"tags": "、".join(both)}}
    return {}


def _validate_attribute(team, config, channel_ids):
    key = (config.get("key") or "").strip()
    if not key:
        return {"key": _("請選擇自訂屬性。")}
    attribute = CustomAttribute.objects.for_team(team).filter(key=key).first()
    if attribute is None or not attribute.is_active:
        return {"key": _("找不到自訂屬性或被封存、資料型態被改變")}
    if attribute.type != AttributeType.TEXT:
        return {"key": _("僅支援變更「文字」型態的自訂屬性。")}
    if len(str(config.get("value") or "")) > 1000:
        return {"value": _("屬性值過長。")}
    return {}


def _validate_points(team, config, channel_ids):
    errors = {}
    if config.get("op") not in ("add", "deduct"):
        errors["op"] = _("請選擇增加或扣除點數。")
    amount = _positive_int(config.get("amount"))
    if not amount:
        errors["amount"] = _("點數需為大於 0 的整數。")
    return errors


def _validate_split(team, config, channel_ids):
    tree = config.get("conditions")
    if not tree or not tree.get("children"):
        return {"conditions": _("請設定分眾條件。")}

    try:
        validate(team, tree)
    except ConditionError as error:
        # Keyed by the bad condition's path ("conditions.children[1].tags"): the drawer marks that row.
        return {error.path: error.message}
    return {}


# A message node sends a chatbot module, a WhatsApp template or (WeChat, outside its 48-hour window) a template message.
MESSAGE_CONTENT_TYPES = ("module", "whatsapp_template", "wechat_template")

# check_sendable's content fields → the message node's config fields (a WeChat template's are the drawer's wechat_*)
_CONFIG_FIELDS = {"type": "kind", "module_id": "module_id", "template_id": "template_id", "parameters": "parameters"}
_WECHAT_FIELDS = {"type": "kind", "template_id": "wechat_template_id", "data": "wechat_data", "url": "wechat_url"}


def _validate_message(team, config, channel_ids):
    try:
        channel_id = int(config.get("channel_id") or 0)
    except (TypeError, ValueError):
        channel_id = 0
    channel = Channel.objects.for_team(team).filter(pk=channel_id).first()
    if channel is None or channel.pk not in set(channel_ids):
        return {"channel_id": _("請選擇旅程的目標渠道之一。")}
    kind = config.get("kind") or "module"
    content = {"type": kind}
    if kind == "module":
        content["module_id"] = _positive_int(config.get("module_id"))
    elif kind == "whatsapp_template":
        content["template_id"] = _positive_int(config.get("template_id"))
        content["parameters"] = config.get("parameters") or []
    elif kind == "wechat_template":
        content.update({key: config[key] for key in ("template_id", "data", "url") if key in config})
    try:
        check_sendable(team, channel, content, types=MESSAGE_CONTENT_TYPES, prefix="")
    except ValidationError as exc:
        fields = _WECHAT_FIELDS if kind == "wechat_template" else _CONFIG_FIELDS
        return {fields.get(key, key): messages[0] for key, messages in exc.message_dict.items()}
    return {}


def validate_trigger(team, trigger_type, config):
    config = config or {}
    if trigger_type == "checkout_completed":
        errors = {}
        for key in ("amount_gte", "amount_lte"):
            if config.get(key) not in (None, ""):
                try:
                    if Decimal(str(config[key])) < 0:
                        raise InvalidOperation
                except InvalidOperation:
                    errors[key] = _("訂單金額需為 0 以上的數字。")
        if not errors and config.get("amount_gte") not in (None, "") and config.get("amount_lte") not in (None, ""):
            if Decimal(str(config["amount_gte"])) > Decimal(str(config["amount_lte"])):
                errors["amount_lte"] = _("金額上限需大於或等於下限。")
        return errors
    if trigger_type == "tag_added":
        tags = normalize_trigger_config(trigger_type, config)["tags"]
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            return {"tags": _("標籤需為名稱清單。")}
        if not tags:
            return {"tags": _("請選擇標籤。")}
        if len(tags) > MAX_TRIGGER_TAGS:
            return {"tags": _("最多 %(n)s 個標籤。") % {"n": MAX_TRIGGER_TAGS}}
    if trigger_type == "attribute_changed":
        key = (config.get("key") or "").strip()
        if not key:
            return {"key": _("請選擇自訂屬性。")}
        if not CustomAttribute.objects.for_team(team).filter(key=key, archived_at__isnull=True).exists():
            return {"key": _("找不到自訂屬性或被封存、資料型態被改變")}
    if trigger_type == "system" and not re.match(r"^[a-z0-9_.-]{1,60}$", config.get("name") or ""):
        return {"name": _("請輸入系統事件名稱（小寫英數、底線）。")}
    return {}


def validate_for_publish(journey, graph):
    """Whole-journey validation. Returns {"settings": {field: msg}, "nodes": {node_id: {field: msg}}}."""
    team = journey.team
    settings_errors = {}
    channel_ids = list(journey.targets.values_list("channel_id", flat=True))
    if not channel_ids:
        settings_errors["channels"] = _("請選擇至少一個目標渠道。")
    if not journey.name.strip():
        settings_errors["name"] = _("請輸入旅程名稱。")
    if journey.activation == "scheduled":
        if not journey.starts_at or not journey.ends_at:
            settings_errors["activation"] = _("排程需設定開始與結束時間。")
        elif journey.starts_at >= journey.ends_at:
            settings_errors["activation"] = _("結束時間需晚於開始時間。")
    settings_errors.update(validate_dnd(journey.dnd_segments))
    for key, message in validate_trigger(team, journey.trigger_type, journey.trigger_config).items():
        settings_errors[f"trigger.{key}"] = message
    node_errors = {}
    nodes = list(iter_nodes(graph))
    if not nodes:
        settings_errors["nodes"] = _("請至少新增一個節點。")
    seen = set()
    for node in nodes:
        errors = validate_node(team, node, channel_ids)
        if node.get("id") in seen:
            errors["id"] = _("節點代碼重複。")
        seen.add(node.get("id"))
        if errors:
            node_errors[node.get("id")] = errors
    return {"settings": settings_errors, "nodes": node_errors}
