"""The console condition builder: form fields ↔ condition tree, and the builder's edit actions.

Each node of the tree has a path ("r", "r.0", "r.0.1", ...). A group posts `<path>.kind=group` and
`<path>.op`; a condition posts `<path>.kind=cond`, `<path>.type` and its own fields (`<path>.op`,
`<path>.value`, `<path>.value2`, `<path>.days`, `<path>.tags` (many), `<path>.key`, `<path>.match`,
`<path>.bound`, `<path>.values` (many), `<path>.channels` (many)). The server re-renders the builder after
every action, so the marketer never sees JSON.
"""

import json

from django.utils.translation import gettext_lazy as _

from cdp.models import AttributeType, ContactSource
from core.params import parse_id

from .conditions import ATTRIBUTE_OPS, TIME_OPS

TYPE_CHOICES = [
    (
        _("依顧客基本資料"),
        [
            ("tag", _("標籤")),
            ("attribute", _("自訂屬性")),
            ("member_id", _("會員 ID")),
            ("phone", _("電話")),
            ("email", "Email"),
        ],
    ),
    (
        _("依互動時間"),
        [
            ("last_customer_interaction", _("客人最後互動時間")),
            ("last_team_interaction", _("團隊最後互動時間")),
            ("last_team_marketing", _("團隊最後行銷時間")),
            ("last_checkout", _("最後完成結帳時間")),
            ("subscribed_at", _("加入訂閱時間")),
        ],
    ),
    (_("依綁定狀態"), [("binding", _("社群身份綁定"))]),
    (_("社群點數"), [("points_balance", _("點數餘額")), ("points_accumulated", _("累積點數"))]),
    (_("其他"), [("source", _("新聯絡人來源")), ("channel", _("渠道"))]),
]

OP_LABELS = {
    "has": _("有"),
    "has_not": _("沒有"),
    "equals": _("等於"),
    "not_equals": _("不等於"),
    "contains": _("包含"),
    "not_contains": _("不包含"),
    "empty": _("為空"),
    "not_empty": _("不為空"),
    "is_set": _("已填寫"),
    "not_set": _("未填寫"),
    "eq": "=",
    "neq": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "between": _("介於"),
    "within_last_days": _("最近 N 天內"),
    "more_than_days_ago": _("超過 N 天前"),
    "before": _("早於"),
    "after": _("晚於"),
    "on": _("在這天"),
    "is_true": _("是"),
    "is_false": _("否"),
    "in": _("是其中之一"),
    "not_in": _("不是其中任一"),
    "has_contact": _("有此渠道的聯絡人"),
    "has_no_contact": _("沒有此渠道的聯絡人"),
}

OPS_BY_TYPE = {
    "tag": ("has", "has_not"),
    "member_id": ("equals", "is_set", "not_set"),
    "phone": ("equals", "is_set", "not_set"),
    "email": ("equals", "is_set", "not_set"),
    "points_balance": ("eq", "neq", "gt", "gte", "lt", "lte", "between"),
    "points_accumulated": ("eq", "neq", "gt", "gte", "lt", "lte", "between"),
    "source": ("in", "not_in"),
    "channel": ("has_contact", "has_no_contact"),
    **{
        t: TIME_OPS
        for t in (
            "last_customer_interaction",
            "last_team_interaction",
            "last_team_marketing",
            "last_checkout",
            "subscribed_at",
        )
    },
}

DEFAULT_CONDITION = {"type": "tag", "op": "has", "match": "any", "tags": []}
DEFAULT_TREE = {"op": "and", "children": [dict(DEFAULT_CONDITION)]}
MULTI = ("tags", "values", "channels")


def ops_for(node, attributes):
    if node.get("type") == "attribute":
        attribute = attributes.get(node.get("key"))
        return ATTRIBUTE_OPS[attribute.type] if attribute else ATTRIBUTE_OPS[AttributeType.TEXT]
    return OPS_BY_TYPE.get(node.get("type"), ())


# ------------------------------------------------------------------------------------------ form → tree


def _number(text):
    text = (text or "").strip()
    try:
        return int(text)
    except ValueError:
        try:
            return float(text) if text else text
        except ValueError:
            return text


def tree_from_form(data):
    """Rebuild the raw tree from posted builder fields (not validated: conditions.validate does that)."""
    kinds = {key[: -len(".kind")]: data.get(key) for key in data if key.endswith(".kind")}
    if "r" not in kinds:
        return None

    def build(path):
        if kinds[path] == "group":
            children = sorted(
                (p for p in kinds if p.startswith(path + ".") and "." not in p[len(path) + 1 :]),
                key=lambda p: int(p.rsplit(".", 1)[1]),
            )
            return {"op": data.get(f"{path}.op", "and"), "children": [build(child) for child in children]}
        return condition_from_form(data, path)

    return build("r")


def condition_from_form(data, path):
    kind = data.get(f"{path}.type", "tag")
    get = lambda name: (data.get(f"{path}.{name}") or "").strip()  # noqa: E731
    many = lambda name: [v for v in data.getlist(f"{path}.{name}") if v]  # noqa: E731
    op = get("op")
    node = {"type": kind, "op": op}
    if kind == "tag":
        node.update(match=get("match") or "any", tags=[v if parse_id(v) is None else parse_id(v) for v in many("tags")])
    elif kind == "attribute":
        node["key"] = get("key")
        if op == "between":
            node["value"] = [
                _number(get("value")) if _looks_numeric(get("value")) else get("value"),
                _number(get("value2")) if _looks_numeric(get("value2")) else get("value2"),
            ]
        elif op == "within_last_days":
            node["value"] = _number(get("days") or get("value"))
        elif get("value"):
            node["value"] = get("value")
    elif kind in ("member_id", "phone", "email"):
        if op == "equals":
            node["value"] = get("value")
    elif kind in OPS_BY_TYPE and OPS_BY_TYPE[kind] is TIME_OPS:
        if op in ("within_last_days", "more_than_days_ago"):
            node["days"] = _number(get("days"))
        elif op == "between":
            node["value"] = [get("value"), get("value2")]
        elif op in ("before", "after"):
            node["value"] = get("value")
    elif kind == "binding":
        node = {"type": "binding", "bound": get("bound") != "false"}
    elif kind in ("points_balance", "points_accumulated"):
        node["value"] = [_number(get("value")), _number(get("value2"))] if op == "between" else _number(get("value"))
    elif kind == "source":
        node["values"] = many("values")
    elif kind == "channel":
        node["channels"] = [parse_id(v) for v in many("channels") if parse_id(v) is not None]
    return node


def _looks_numeric(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------- actions


def _node_at(tree, path):
    node = tree
    for index in path.split(".")[1:]:
        node = node["children"][int(index)]
    return node


def apply_action(tree, action):
    """Builder actions: add_cond:<group path>, add_group:<group path>, remove:<node path>, reset:<path>."""
    tree = json.loads(json.dumps(tree or DEFAULT_TREE))
    verb, _sep, path = (action or "").partition(":")
    try:
        if verb == "add_cond":
            _node_at(tree, path)["children"].append(dict(DEFAULT_CONDITION))
        elif verb == "add_group":
            _node_at(tree, path)["children"].append({"op": "or", "children": [dict(DEFAULT_CONDITION)]})
        elif verb == "remove" and path != "r":
            parent, index = path.rsplit(".", 1)
            _node_at(tree, parent)["children"].pop(int(index))
        elif verb == "retype":
            node = _node_at(tree, path)
            kind = node.get("type")
            node.clear()
            node.update(_fresh(kind))
    except (KeyError, IndexError, ValueError, TypeError):
        pass  # a stale form: re-render what we have
    return tree


def _fresh(kind):
    if kind == "binding":
        return {"type": "binding", "bound": True}
    if kind == "tag":
        return dict(DEFAULT_CONDITION)
    ops = OPS_BY_TYPE.get(kind, ("equals",))
    return {"type": kind, "op": ops[0]}


# --------------------------------------------------------------------------------------------- rendering


def rows(tree, attributes):
    """Flatten the tree for the template: one row per node with its path, depth and what to show."""
    out = []

    def walk(node, path, depth):
        if "children" in node:
            out.append({"kind": "group", "path": path, "depth": depth, "node": node, "is_root": path == "r"})
            for index, child in enumerate(node["children"]):
                walk(child, f"{path}.{index}", depth + 1)
            out.append({"kind": "end", "path": path, "depth": depth, "node": node})
        else:
            op = node.get("op")
            out.append(
                {
                    "kind": "cond",
                    "path": path,
                    "depth": depth,
                    "node": node,
                    "ops": [(o, OP_LABELS.get(o, o)) for o in ops_for(node, attributes)],
                    "needs_days": op in ("within_last_days", "more_than_days_ago"),
                    "needs_pair": op == "between",
                    "needs_value": op
                    not in (
                        "is_set",
                        "not_set",
                        "empty",
                        "not_empty",
                        "is_true",
                        "is_false",
                        "within_last_days",
                        "more_than_days_ago",
                        None,
                    ),
                    "value": node.get("value") if not isinstance(node.get("value"), list) else node["value"][0],
                    "value2": node["value"][1]
                    if isinstance(node.get("value"), list) and len(node["value"]) > 1
                    else "",
                    "attribute": attributes.get(node.get("key")),
                }
            )

    if isinstance(tree, dict) and "children" in tree:
        walk(tree, "r", 0)
    return out


SOURCE_CHOICES = ContactSource.choices
