"""Words for the builder's nodes and error keys (issue 20.15): a node is named by its position and type ("第 3 個節點
（訊息）" / "Step 3 (Message)"), a field by its label; never a node code or a raw field key. Every page and message
that names a node or an error location uses these functions; the API keeps the keys."""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from .graph import iter_nodes

NODE_LABELS = [
    ("message", gettext_lazy("訊息節點")),
    ("delay", gettext_lazy("時間延遲")),
    ("split", gettext_lazy("分眾條件")),
    ("tags", gettext_lazy("新增/移除標籤")),
    ("attribute", gettext_lazy("變更自訂屬性")),
    ("points", gettext_lazy("增加/扣除點數")),
]

# The short type name inside "第 3 個節點（訊息）".
NODE_KINDS = {
    "message": pgettext_lazy("node kind", "訊息"),
    "delay": pgettext_lazy("node kind", "時間延遲"),
    "split": pgettext_lazy("node kind", "分眾條件"),
    "tags": pgettext_lazy("node kind", "標籤"),
    "attribute": pgettext_lazy("node kind", "自訂屬性"),
    "points": pgettext_lazy("node kind", "點數"),
}

# A node's config keys (validation.py's error keys) → the drawer's field labels. None: the node's name says it.
NODE_FIELDS = {
    "channel_id": gettext_lazy("目標渠道"),
    "kind": gettext_lazy("訊息類型"),
    "module_id": gettext_lazy("機器人模組"),
    "template_id": gettext_lazy("WhatsApp 訊息範本"),
    "parameters": gettext_lazy("範本參數（每行一個）"),
    "wechat_template_id": gettext_lazy("WeChat 模板 ID"),
    "wechat_data": gettext_lazy("模板欄位（每行一個「欄位: 內容」）"),
    "wechat_url": gettext_lazy("點擊後開啟的連結（選填）"),
    "add": gettext_lazy("新增標籤"),
    "remove": gettext_lazy("移除標籤"),
    "key": gettext_lazy("自訂屬性"),
    "value": gettext_lazy("變更為"),
    "op": gettext_lazy("動作"),
    "amount": gettext_lazy("點數"),
    "delay": None,
    "type": None,
    "id": None,
}

# Settings error keys (services.update_settings, forms.settings_values, validation) → the settings form's labels.
SETTING_LABELS = {
    "channels": gettext_lazy("目標渠道"),
    "name": gettext_lazy("旅程名稱"),
    "activation": gettext_lazy("啟用時間"),
    "starts_at": gettext_lazy("開始時間"),
    "ends_at": gettext_lazy("結束時間"),
    "nodes": gettext_lazy("旅程節點"),
    "graph": gettext_lazy("旅程節點"),
    "position": gettext_lazy("旅程節點"),
    "node": gettext_lazy("旅程節點"),
    "status": gettext_lazy("狀態"),
    "action": gettext_lazy("狀態"),
    "trigger": gettext_lazy("觸發條件"),
    "trigger_type": gettext_lazy("觸發條件"),
    "trigger_config": gettext_lazy("觸發條件"),
    "dnd_segments": gettext_lazy("勿擾時段"),
    "expiry_action": gettext_lazy("排程到期動作"),
    "per_customer_limit": gettext_lazy("旅程觸發次數限制（每位顧客）"),
    "holdout_percent": gettext_lazy("保留組比例 (%)"),
}


# "Test a journey"'s step outcomes (simulate.py) in words.
OUTCOME_LABELS = {
    "send": pgettext_lazy("test outcome", "發送"),
    "skip": pgettext_lazy("test outcome", "略過"),
    "defer": pgettext_lazy("test outcome", "延後"),
    "wait": pgettext_lazy("test outcome", "等待"),
    "yes": pgettext_lazy("test outcome", "是"),
    "no": pgettext_lazy("test outcome", "否"),
    "do": pgettext_lazy("test outcome", "執行"),
}

CONDITION_INDEX = re.compile(r"children\[(\d+)\]")


def condition_location(key):
    """An audiences condition path ("conditions.children[0].children[1].value") → the builder's row path
    ("r.0.1") and words for the marketer ("條件 1 › 2"). ("", "") for keys that are not condition paths."""
    if not key.startswith("conditions"):
        return "", ""
    indexes = CONDITION_INDEX.findall(key)
    path = "r" + "".join(f".{i}" for i in indexes)
    if not indexes:
        return path, _("條件")
    return path, _("條件 %(n)s") % {"n": " › ".join(str(int(i) + 1) for i in indexes)}


def node_label(kind):
    return dict(NODE_LABELS).get(kind, _("節點"))


def node_positions(graph):
    """{node id: (position from 1, node)} in the builder's reading order (each split's yes branch, then its no)."""
    return {node.get("id"): (index, node) for index, node in enumerate(iter_nodes(graph or {}), 1)}


def node_name(position, kind):
    """ "第 3 個節點（訊息）" / "Step 3 (Message)"."""
    return _("第 %(n)s 個節點（%(kind)s）") % {"n": position, "kind": NODE_KINDS.get(kind, _("節點"))}


def node_name_in(graph, node_id, positions=None):
    positions = positions if positions is not None else node_positions(graph)
    if node_id not in positions:
        return _("已刪除的節點")
    index, node = positions[node_id]
    return node_name(index, node.get("type"))


def error_where(graph, key, positions=None):
    """Words for an error key: "nodes.<id>.channel_id" → "第 2 個節點（訊息） · 目標渠道"; "nodes.<id>.conditions.
    children[0].value" → "第 1 個節點（分眾條件） · 條件 1"; "dnd_segments[1]" → "勿擾時段"; unknown → "旅程設定"."""
    if key.startswith("nodes."):
        _prefix, node_id, field = (key.split(".", 2) + [""])[:3]
        where = node_name_in(graph, node_id, positions)
        detail = condition_location(field)[1] if field.startswith("conditions") else NODE_FIELDS.get(field)
        return f"{where} · {detail}" if detail else where
    if key.startswith("conditions"):
        return condition_location(key)[1]
    base = key.split(".", 1)[0].split("[", 1)[0]
    return str(SETTING_LABELS.get(base, _("旅程設定")))
