"""Validation of a condition tree against the team's tags, attributes and channels (``validate``)."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from cdp.models import AttributeType, Channel, ContactSource, CustomAttribute, Tag
from cdp.phones import normalize_phone
from coupons.models import Campaign

from .language import (
    _FIELDS,
    ATTRIBUTE_OPS,
    COMPARE_OPS,
    CONDITION_TYPES,
    COUPON_OPS,
    GROUP_OPS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_NODES,
    POINTS_TYPES,
    PROFILE_TYPES,
    TIME_OPS,
    TIME_TYPES,
    VALUELESS_OPS,
    ConditionError,
    Validated,
)

# --------------------------------------------------------------------------------------------------- validation


def validate(team, tree, *, root="conditions"):
    """Check ``tree`` against the team's tags and attributes; return a ``Validated`` with a normalised copy.

    Raises ConditionError naming the path of the first bad node. Tag names are resolved to ids and attribute
    values are normalised (numbers as strings of decimals, dates as "YYYY-MM-DD").
    """
    if isinstance(tree, Validated):
        return tree
    checker = _Checker(team)
    normalised = checker.group(tree, root, depth=1)
    checker.resolve()
    return Validated(tree=checker.finish(normalised), team=team)


class _Checker:
    def __init__(self, team):
        self.team = team
        self.nodes = 0
        self.tag_refs = []  # (path, ref, holder list, index)
        self.attribute_refs = []  # (path, key, node)

    def fail(self, path, message):
        raise ConditionError(path, message)

    def group(self, node, path, depth):
        if not isinstance(node, dict):
            self.fail(path, _("必須是條件群組（含 op 與 children 的物件）。"))
        if "type" in node:
            self.fail(path, _("最外層必須是條件群組，不能是單一條件。"))
        unknown = set(node) - {"op", "children"}
        if unknown:
            self.fail(f"{path}.{sorted(unknown)[0]}", _("未知的欄位。"))
        if node.get("op") not in GROUP_OPS:
            self.fail(f"{path}.op", _("群組的 op 必須是 and 或 or。"))
        children = node.get("children")
        if not isinstance(children, list):
            self.fail(f"{path}.children", _("children 必須是清單。"))
        if not children:
            self.fail(f"{path}.children", _("條件群組不能是空的。"))
        if depth > MAX_DEPTH:
            self.fail(path, _("條件群組最多 %(n)s 層。") % {"n": MAX_DEPTH})
        out = []
        for index, child in enumerate(children):
            child_path = f"{path}.children[{index}]"
            self.nodes += 1
            if self.nodes > MAX_NODES:
                self.fail(child_path, _("條件最多 %(n)s 個。") % {"n": MAX_NODES})
            if isinstance(child, dict) and "type" not in child and "op" in child and "children" in child:
                out.append(self.group(child, child_path, depth + 1))
            else:
                out.append(self.condition(child, child_path))
        return {"op": node["op"], "children": out}

    def condition(self, node, path):
        if not isinstance(node, dict):
            self.fail(path, _("必須是條件或條件群組物件。"))
        kind = node.get("type")
        if kind not in CONDITION_TYPES:
            self.fail(f"{path}.type", _("未知的條件類型：%(t)s") % {"t": kind})
        unknown = set(node) - _FIELDS[kind]
        if unknown:
            self.fail(f"{path}.{sorted(unknown)[0]}", _("此條件類型沒有這個欄位。"))
        return getattr(self, f"check_{_family(kind)}")(node, path)

    # -- one checker per family ---------------------------------------------------------------------------------

    def check_tag(self, node, path):
        op = self.choice(node, path, "op", ("has", "has_not"))
        match = node.get("match", "any")
        if match not in ("any", "all"):
            self.fail(f"{path}.match", _("match 必須是 any 或 all。"))
        refs = self.nonempty_list(node, path, "tags")
        tags = list(refs)
        for index, ref in enumerate(refs):
            if isinstance(ref, bool) or not isinstance(ref, (int, str)) or (isinstance(ref, str) and not ref.strip()):
                self.fail(f"{path}.tags[{index}]", _("標籤必須是標籤 ID 或名稱。"))
            self.tag_refs.append((f"{path}.tags[{index}]", ref, tags, index))
        return {"type": "tag", "op": op, "match": match, "tags": tags}

    def check_attribute(self, node, path):
        key = node.get("key")
        if not isinstance(key, str) or not key:
            self.fail(f"{path}.key", _("請指定自訂屬性代碼。"))
        out = {"type": "attribute", "key": key, "op": node.get("op"), "value": node.get("value")}
        self.attribute_refs.append((path, key, out))
        return out

    def check_profile(self, node, path):
        op = self.choice(node, path, "op", ("equals", "is_set", "not_set"))
        out = {"type": node["type"], "op": op}
        if op == "equals":
            value = node.get("value")
            if not isinstance(value, str) or not value.strip():
                self.fail(f"{path}.value", _("請填入要比對的文字。"))
            value = value.strip()
            if node["type"] == "email":
                value = value.lower()
            elif node["type"] == "phone":
                try:
                    value = normalize_phone(value, getattr(self.team, "default_region", "TW"))
                except ValidationError as exc:
                    self.fail(f"{path}.value", " ".join(exc.messages))
            out["value"] = value
        return out

    def check_time(self, node, path):
        op = self.choice(node, path, "op", TIME_OPS)
        out = {"type": node["type"], "op": op}
        if op in ("within_last_days", "more_than_days_ago"):
            out["days"] = self.positive_int(node.get("days"), f"{path}.days")
        elif op in ("before", "after"):
            out["value"] = self.date(node.get("value"), f"{path}.value").isoformat()
        elif op == "between":
            start, end = self.date_pair(node.get("value"), f"{path}.value")
            out["value"] = [start.isoformat(), end.isoformat()]
        return out

    def check_binding(self, node, path):
        if not isinstance(node.get("bound"), bool):
            self.fail(f"{path}.bound", _("bound 必須是 true 或 false。"))
        return {"type": "binding", "bound": node["bound"]}

    def check_points(self, node, path):
        op = self.choice(node, path, "op", COMPARE_OPS)
        value = node.get("value")
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.fail(f"{path}.value", _("範圍必須是 [最小值, 最大值]。"))
            low = self.integer(value[0], f"{path}.value[0]")
            high = self.integer(value[1], f"{path}.value[1]")
            if low > high:
                self.fail(f"{path}.value", _("最小值不能大於最大值。"))
            return {"type": node["type"], "op": op, "value": [low, high]}
        return {"type": node["type"], "op": op, "value": self.integer(value, f"{path}.value")}

    def check_source(self, node, path):
        op = self.choice(node, path, "op", ("in", "not_in"))
        values = self.nonempty_list(node, path, "values")
        for index, value in enumerate(values):
            if value not in ContactSource.values:
                self.fail(f"{path}.values[{index}]", _("未知的新聯絡人來源：%(v)s") % {"v": value})
        return {"type": "source", "op": op, "values": sorted(set(values))}

    def check_coupon(self, node, path):
        op = self.choice(node, path, "op", COUPON_OPS)
        campaign = node.get("campaign")
        if isinstance(campaign, bool) or not isinstance(campaign, int):
            self.fail(f"{path}.campaign", _("campaign 必須是優惠券活動 ID（整數）。"))
        if not Campaign.objects.filter(team=self.team, pk=campaign).exists():
            self.fail(f"{path}.campaign", _("找不到這個優惠券活動。"))
        return {"type": "coupon", "op": op, "campaign": campaign}

    def check_channel(self, node, path):
        op = self.choice(node, path, "op", ("has_contact", "has_no_contact"))
        ids = self.nonempty_list(node, path, "channels")
        for index, value in enumerate(ids):
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(f"{path}.channels[{index}]", _("渠道必須是渠道 ID（整數）。"))
        known = set(Channel.objects.filter(team=self.team, pk__in=ids).values_list("pk", flat=True))
        for index, value in enumerate(ids):
            if value not in known:
                self.fail(f"{path}.channels[{index}]", _("找不到這個渠道。"))
        return {"type": "channel", "op": op, "channels": sorted(set(ids))}

    # -- references to tags and attributes, resolved with one query each --------------------------------------

    def resolve(self):
        if self.tag_refs:
            ids = {ref for _p, ref, _h, _i in self.tag_refs if isinstance(ref, int)}
            names = {ref.strip() for _p, ref, _h, _i in self.tag_refs if isinstance(ref, str)}
            by_id, by_name = {}, {}
            for pk, name in (
                Tag.objects.filter(team=self.team).filter(Q(pk__in=ids) | Q(name__in=names)).values_list("pk", "name")
            ):
                by_id[pk] = pk
                by_name[name] = pk
            for path, ref, holder, index in self.tag_refs:
                found = by_id.get(ref) if isinstance(ref, int) else by_name.get(ref.strip())
                if found is None:
                    self.fail(path, _("找不到這個標籤：%(t)s") % {"t": ref})
                holder[index] = found
        if self.attribute_refs:
            keys = {key for _p, key, _n in self.attribute_refs}
            attributes = {a.key: a for a in CustomAttribute.objects.filter(team=self.team, key__in=keys)}
            for path, key, node in self.attribute_refs:
                attribute = attributes.get(key)
                if attribute is None:
                    self.fail(f"{path}.key", _("找不到這個自訂屬性：%(k)s") % {"k": key})
                if attribute.archived_at is not None:
                    self.fail(f"{path}.key", _("自訂屬性「%(k)s」已封存，不能用於條件。") % {"k": key})
                self.attribute_value(node, path, attribute)

    def attribute_value(self, node, path, attribute):
        kind = attribute.type
        op = node["op"]
        if op not in ATTRIBUTE_OPS[kind]:
            self.fail(
                f"{path}.op",
                _("%(type)s 屬性可用的 op：%(ops)s") % {"type": kind, "ops": ", ".join(ATTRIBUTE_OPS[kind])},
            )
        node["attribute_id"] = attribute.pk
        node["attribute_type"] = kind
        value = node.pop("value")
        if op in VALUELESS_OPS:
            return
        vpath = f"{path}.value"
        if kind == AttributeType.TEXT:
            if not isinstance(value, str) or value == "":
                self.fail(vpath, _("請填入文字。"))
            node["value"] = value
        elif kind == AttributeType.NUMBER:
            if op == "between":
                low, high = self.pair(value, vpath, self.decimal)
                if low > high:
                    self.fail(vpath, _("最小值不能大於最大值。"))
                node["value"] = [str(low), str(high)]
            else:
                node["value"] = str(self.decimal(value, vpath))
        elif op == "within_last_days":
            node["value"] = self.positive_int(value, vpath)
        elif op == "between":
            start, end = self.date_pair(value, vpath)
            node["value"] = [start.isoformat(), end.isoformat()]
        else:
            node["value"] = self.date(value, vpath).isoformat()

    def finish(self, tree):
        return tree

    # -- small typed readers ----------------------------------------------------------------------------------

    def choice(self, node, path, field, allowed):
        value = node.get(field)
        if value not in allowed:
            self.fail(f"{path}.{field}", _("必須是下列之一：%(v)s") % {"v": ", ".join(allowed)})
        return value

    def nonempty_list(self, node, path, field):
        value = node.get(field)
        if not isinstance(value, list) or not value:
            self.fail(f"{path}.{field}", _("必須是非空的清單。"))
        if len(value) > MAX_LIST:
            self.fail(f"{path}.{field}", _("清單最多 %(n)s 項。") % {"n": MAX_LIST})
        return value

    def integer(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, _("必須是整數。"))
        if abs(value) > 2**31 - 1:
            self.fail(path, _("數值超出範圍。"))
        return value

    def positive_int(self, value, path):
        value = self.integer(value, path)
        if value < 1 or value > 36500:
            self.fail(path, _("天數必須介於 1 到 36500。"))
        return value

    def decimal(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(path, _("必須是數字。"))
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(path, _("必須是數字。"))
        if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
            self.fail(path, _("數值超出範圍。"))
        return number

    def date(self, value, path):
        if not isinstance(value, str):
            self.fail(path, _("日期格式必須是 YYYY-MM-DD。"))
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(path, _("日期格式必須是 YYYY-MM-DD。"))

    def pair(self, value, path, reader):
        if not isinstance(value, list) or len(value) != 2:
            self.fail(path, _("範圍必須是兩個值的清單。"))
        return reader(value[0], f"{path}[0]"), reader(value[1], f"{path}[1]")

    def date_pair(self, value, path):
        start, end = self.pair(value, path, self.date)
        if start > end:
            self.fail(path, _("開始日期不能晚於結束日期。"))
        return start, end


def _family(kind):
    if kind in PROFILE_TYPES:
        return "profile"
    if kind in TIME_TYPES:
        return "time"
    if kind in POINTS_TYPES:
        return "points"
    return kind
