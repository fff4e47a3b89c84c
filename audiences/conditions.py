"""The audience condition language: validate a JSON condition tree and compile it to ONE SQL query.

Used by audience packs and broadcasts (``contacts_matching``) and by journey split nodes
(``customer_matches``). The full reference, with the JSON schema and examples, is in audiences/README.md.

A tree is a group ``{"op": "and" | "or", "children": [node, ...]}`` whose children are groups or conditions
``{"type": "...", ...}``:

=========================  ==================================================================================
type                       fields
=========================  ==================================================================================
tag                        op has | has_not, match any | all, tags [tag id or name, ...]
attribute                  key, op (by the attribute's type, see ATTRIBUTE_OPS), value
member_id / phone / email  op equals | is_set | not_set, value (equals only)
last_customer_interaction  op within_last_days | more_than_days_ago (days N) | before | after (value date) |
last_team_interaction      between (value [date, date]) | is_set | not_set.  Dates are "YYYY-MM-DD" days in
last_team_marketing        the team's time zone (before = earlier than that day, after = later than that
last_checkout              day, between = both days included).
subscribed_at
binding                    bound true | false (社群身份綁定)
points_balance /           op eq | neq | gt | gte | lt | lte (value integer) | between (value [min, max])
points_accumulated
source                     op in | not_in, values [ContactSource value, ...]
channel                    op has_contact | has_no_contact, channels [channel id, ...] (the customer has / has no
                           subscribed contact on any of these channels)
=========================  ==================================================================================

Semantics that matter:
- Negative operators (has_not, not_equals, not_contains, has_no_contact, not_in, attribute empty) include
  customers that have no value at all; comparisons (gt, before, within_last_days, ...) never match a missing
  value.
- Tag and attribute conditions are ``Exists()`` subqueries on customer_tag / attribute_value, never JOINs, so a
  contact appears once and the result is one SELECT.
- Interaction times and subscribed_at are the contact's own (its channel) when compiled for contacts, and the
  omni-customer's cross-channel times when compiled for customers (``customer_matches`` without a channel).
- A ``date`` attribute's value is stored as midnight UTC of that day and compared by day; ``datetime``
  attributes and all interaction times are compared by days in the team's time zone.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cdp.models import (
    AttributeType,
    AttributeValue,
    Contact,
    ContactSource,
    CustomAttribute,
    Customer,
    CustomerTag,
    SubscriptionStatus,
    Tag,
)
from cdp.phones import normalize_phone

MAX_DEPTH = 6
MAX_NODES = 200
MAX_LIST = 500

GROUP_OPS = ("and", "or")
TIME_TYPES = (
    "last_customer_interaction",
    "last_team_interaction",
    "last_team_marketing",
    "last_checkout",
    "subscribed_at",
)
PROFILE_TYPES = ("member_id", "phone", "email")
POINTS_TYPES = ("points_balance", "points_accumulated")
CONDITION_TYPES = ("tag", "attribute", *PROFILE_TYPES, *TIME_TYPES, "binding", *POINTS_TYPES, "source", "channel")

COMPARE_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "between")
TIME_OPS = ("within_last_days", "more_than_days_ago", "before", "after", "between", "is_set", "not_set")
ATTRIBUTE_OPS = {
    AttributeType.TEXT: ("equals", "not_equals", "contains", "not_contains", "empty", "not_empty"),
    AttributeType.NUMBER: (*COMPARE_OPS, "empty", "not_empty"),
    AttributeType.DATE: ("on", "before", "after", "between", "within_last_days", "empty", "not_empty"),
    AttributeType.DATETIME: ("on", "before", "after", "between", "within_last_days", "empty", "not_empty"),
    AttributeType.BOOLEAN: ("is_true", "is_false", "empty", "not_empty"),
}
VALUELESS_OPS = {"empty", "not_empty", "is_set", "not_set", "is_true", "is_false"}

# Contact-level fields of the time conditions when compiling for channel contacts.
CONTACT_TIME_FIELDS = {
    "last_customer_interaction": "last_customer_interaction_at",
    "last_team_interaction": "last_team_interaction_at",
    "last_team_marketing": "last_team_marketing_at",
    "subscribed_at": "subscribed_at",
}
# Customer-level (cross-channel) fields when compiling for customers.
CUSTOMER_TIME_FIELDS = {
    "last_customer_interaction": "last_customer_interaction_at",
    "last_team_interaction": "last_team_interaction_at",
    "last_team_marketing": "last_team_marketing_at",
    "last_checkout": "last_checkout_at",
}

_FIELDS = {
    "tag": {"type", "op", "match", "tags"},
    "attribute": {"type", "key", "op", "value"},
    "binding": {"type", "bound"},
    "source": {"type", "op", "values"},
    "channel": {"type", "op", "channels"},
}
for _t in PROFILE_TYPES:
    _FIELDS[_t] = {"type", "op", "value"}
for _t in TIME_TYPES:
    _FIELDS[_t] = {"type", "op", "value", "days"}
for _t in POINTS_TYPES:
    _FIELDS[_t] = {"type", "op", "value"}


class ConditionError(ValueError):
    """A condition tree that cannot be used. ``path`` names the bad node, e.g. "conditions.children[1].value"."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Validated:
    """A checked tree: the normalised JSON plus what the compiler needs (tag ids, attribute types)."""

    tree: dict
    team: object


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

    def check_channel(self, node, path):
        from cdp.models import Channel

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


# -------------------------------------------------------------------------------------------------- compilation

CUSTOMER_ROW_TYPES = frozenset((*PROFILE_TYPES, "binding", *POINTS_TYPES, "last_checkout"))


def _on_customer_row(node):
    """A condition that reads only the customer row (when compiling for contacts)."""
    return "children" not in node and node["type"] in CUSTOMER_ROW_TYPES


def _combine(parts, op):
    result = parts[0]
    for part in parts[1:]:
        result = (result & part) if op == "and" else (result | part)
    return result


class _PointProbe(Exists):
    """``EXISTS`` that PostgreSQL runs per outer row (an index probe) and never turns into a hashed set or a
    semi-join: a subquery with OFFSET is neither simplified nor pulled up. Valid SQL on SQLite too."""

    template = "EXISTS(%(subquery)s OFFSET 0)"


class _Compiler:
    """Builds a Q for Contact rows (base="contact") or Customer rows (base="customer").

    ``probe``: every ``EXISTS`` (tags, attributes, the customer row, the customer's contacts) is a fenced
    per-row probe (``_PointProbe``), so the query can only be run by walking the outer rows and testing each;
    for a bounded walk (the preview's window of newest contacts, see ``services.preview``), whose cost must not
    depend on the planner's estimate of how many rows match."""

    def __init__(self, team, base, now, probe=False):
        self.team = team
        self.base = base
        self.now = now or timezone.now()
        self.probe = probe
        self.zone = team.zone
        self.customer_prefix = "customer__" if base == "contact" else ""
        self.customer_ref = OuterRef("customer_id") if base == "contact" else OuterRef("pk")

    def node(self, node, conjunctive=True):
        """The Q of a group or condition. ``conjunctive``: only AND groups lie between this node and the root.

        For contacts, conditions on the customer row (profile, binding, points, last checkout) are JOIN filters
        when conjunctive (the planner joins customers once). Under an OR they become one ``EXISTS`` on the
        customer per group instead, placed after the group's other children; in an AND group beside a tag or
        attribute test it is fenced (``OFFSET 0``) so PostgreSQL probes the customer by primary key only for
        the contacts that passed the siblings, rather than hashing every matching customer (measured on the
        nested shape of the benchmark: 540 ms with the JOIN, 270 ms with the probe).
        """
        if "children" not in node:
            return getattr(self, f"c_{_family(node['type'])}")(node)
        op = node["op"]
        conjunctive = conjunctive and op == "and"
        children = node["children"]
        on_customer = []
        if self.base == "contact" and not conjunctive:
            on_customer = [child for child in children if _on_customer_row(child)]
            children = [child for child in children if not _on_customer_row(child)]
        parts = [self.node(child, conjunctive) for child in children]
        if on_customer:
            parts.append(self.customer_probe(on_customer, op, fenced=op == "and" and bool(parts)))
        return _combine(parts, op)

    def customer_probe(self, nodes, op, fenced):
        """``EXISTS`` on the contact's customer row for customer-row conditions (compiled for customers)."""
        compiler = _Compiler(self.team, "customer", self.now, probe=self.probe)
        q = _combine([compiler.node(node) for node in nodes], op)
        rows = Customer.objects.filter(team_id=self.team.pk, pk=OuterRef("customer_id")).filter(q)
        return Q(_PointProbe(rows) if fenced or self.probe else Exists(rows))

    def exists(self, rows):
        return _PointProbe(rows) if self.probe else Exists(rows)

    # -- day boundaries --------------------------------------------------------------------------------------

    def local_midnight(self, day, zone=None):
        return dt.datetime.combine(day, dt.time.min, tzinfo=zone or self.zone)

    def day_range(self, start, end, zone=None):
        """[start 00:00, end+1 00:00) in the zone, as aware datetimes."""
        return self.local_midnight(start, zone), self.local_midnight(end + dt.timedelta(days=1), zone)

    def time_q(self, field, op, value=None, days=None, zone=None):
        if op == "is_set":
            return Q(**{f"{field}__isnull": False})
        if op == "not_set":
            return Q(**{f"{field}__isnull": True})
        if op == "within_last_days":
            return Q(**{f"{field}__gte": self.now - dt.timedelta(days=days)})
        if op == "more_than_days_ago":
            return Q(**{f"{field}__lt": self.now - dt.timedelta(days=days)})
        if op == "between":
            start, end = self.day_range(dt.date.fromisoformat(value[0]), dt.date.fromisoformat(value[1]), zone)
            return Q(**{f"{field}__gte": start, f"{field}__lt": end})
        day = dt.date.fromisoformat(value)
        start, end = self.day_range(day, day, zone)
        if op == "before":
            return Q(**{f"{field}__lt": start})
        if op == "after":
            return Q(**{f"{field}__gte": end})
        if op == "on":
            return Q(**{f"{field}__gte": start, f"{field}__lt": end})
        raise AssertionError(op)

    # -- condition families ----------------------------------------------------------------------------------

    def tag_exists(self, tag_ids):
        return self.exists(
            CustomerTag.objects.filter(team_id=self.team.pk, customer_id=self.customer_ref, tag_id__in=tag_ids)
        )

    def c_tag(self, node):
        tags = node["tags"]
        if node["match"] == "any" or len(tags) == 1:
            has = [self.tag_exists(tags)]
        else:
            has = [self.tag_exists([tag]) for tag in tags]
        q = Q(has[0])
        for extra in has[1:]:
            q &= Q(extra)
        return q if node["op"] == "has" else ~q

    def c_attribute(self, node):
        kind, op, value = node["attribute_type"], node["op"], node.get("value")
        column = {
            AttributeType.TEXT: "text_value",
            AttributeType.NUMBER: "number_value",
            AttributeType.BOOLEAN: "bool_value",
        }.get(kind, "datetime_value")
        rows = AttributeValue.objects.filter(
            team_id=self.team.pk, customer_id=self.customer_ref, attribute_id=node["attribute_id"]
        )
        present = Q(**{f"{column}__isnull": False})
        if kind == AttributeType.TEXT:
            present &= ~Q(text_value="")
        negate = False
        if op in ("empty", "not_empty"):
            where, negate = present, op == "empty"
        elif kind == AttributeType.TEXT:
            lookup = "exact" if op in ("equals", "not_equals") else "icontains"
            where, negate = Q(**{f"text_value__{lookup}": value}), op.startswith("not_")
        elif kind == AttributeType.NUMBER:
            if op == "neq":
                where, negate = Q(number_value=Decimal(value)), True
            elif op == "between":
                where = Q(number_value__gte=Decimal(value[0]), number_value__lte=Decimal(value[1]))
            else:
                where = Q(**{f"number_value__{op if op != 'eq' else 'exact'}": Decimal(value)})
        elif kind == AttributeType.BOOLEAN:
            where = Q(bool_value=(op == "is_true"))
        else:
            zone = dt.UTC if kind == AttributeType.DATE else self.zone
            if op == "within_last_days":
                where = self.time_q("datetime_value", op, days=value)
            else:
                where = self.time_q("datetime_value", op, value=value, zone=zone)
        q = Q(self.exists(rows.filter(where)))
        return ~q if negate else q

    def c_profile(self, node):
        field = self.customer_prefix + node["type"]
        if node["type"] == "member_id":
            is_set = Q(**{f"{field}__isnull": False}) & ~Q(**{field: ""})
        else:
            is_set = Q(**{f"{field}__gt": ""})
        if node["op"] == "is_set":
            return is_set
        if node["op"] == "not_set":
            return ~is_set
        return Q(**{field: node["value"]})

    def c_time(self, node):
        kind = node["type"]
        if self.base == "contact" and kind in CONTACT_TIME_FIELDS:
            field = CONTACT_TIME_FIELDS[kind]
        elif kind in CUSTOMER_TIME_FIELDS:
            field = self.customer_prefix + CUSTOMER_TIME_FIELDS[kind]
        else:  # subscribed_at for a customer: any of its contacts
            inner = self.time_q("subscribed_at", node["op"], node.get("value"), node.get("days"))
            if node["op"] == "not_set":
                return ~Q(self.exists(self.customer_contacts().filter(subscribed_at__isnull=False)))
            return Q(self.exists(self.customer_contacts().filter(inner)))
        return self.time_q(field, node["op"], node.get("value"), node.get("days"))

    def customer_contacts(self):
        return Contact.objects.filter(team_id=self.team.pk, customer_id=self.customer_ref)

    def c_binding(self, node):
        return Q(**{f"{self.customer_prefix}is_bound": node["bound"]})

    def c_points(self, node):
        field = self.customer_prefix + node["type"]
        op, value = node["op"], node["value"]
        if op == "between":
            return Q(**{f"{field}__gte": value[0], f"{field}__lte": value[1]})
        if op == "neq":
            return ~Q(**{field: value})  # not nullable
        return Q(**{f"{field}__{op if op != 'eq' else 'exact'}": value})

    def c_source(self, node):
        if self.base == "contact":
            q = Q(source__in=node["values"])
        else:
            q = Q(self.exists(self.customer_contacts().filter(source__in=node["values"])))
        return q if node["op"] == "in" else ~q

    def c_channel(self, node):
        q = Q(
            self.exists(
                self.customer_contacts().filter(channel_id__in=node["channels"], status=SubscriptionStatus.SUBSCRIBED)
            )
        )
        return q if node["op"] == "has_contact" else ~q


def compile_q(team, tree, *, base="contact", now=None, probe=False):
    """The Q object of a (validated or raw) tree for Contact rows or Customer rows (``probe``: see _Compiler)."""
    checked = validate(team, tree)
    return _Compiler(team, base, now, probe=probe).node(checked.tree)


# ------------------------------------------------------------------------------------------------ public entry


def reachable_contacts(*, team, channel):
    """The reachable contacts of ``channel`` (no conditions): the rows ``contacts_matching`` filters."""
    if channel.team_id != team.pk:
        raise ConditionError("channel", _("渠道不屬於此團隊。"))
    return Contact.objects.for_team(team).reachable().filter(channel=channel)


def contacts_matching(*, team, channel, tree, now=None, probe=False):
    """The reachable contacts of ``channel`` that match ``tree``: ONE SQL query (a lazy QuerySet).

    Reachable = cdp's recipient rule for broadcasts (``Contact.objects.reachable()``, seed 001): not blocked, within
    the team's contact quota, not unsubscribed from broadcasts (推播訊息). A contact unsubscribed only from another
    scope is still reachable. Raises ConditionError on a bad tree.
    ``probe``: every EXISTS a per-row probe (only for a walk bounded otherwise, see ``services.preview``).
    """
    queryset = reachable_contacts(team=team, channel=channel)
    return queryset.filter(compile_q(team, tree, base="contact", now=now, probe=probe))


def customer_matches(*, team, customer, tree, channel=None, now=None, reachable_only=False):
    """Whether one customer matches ``tree`` (journey split nodes). Same compiler, one SQL query.

    With ``channel``, the customer matches when one of its contacts on that channel matches (contact-level
    interaction times); without, the tree is evaluated on the customer (cross-channel times; subscribed_at and
    source on any of its contacts). ``reachable_only`` additionally requires a reachable contact on the channel.
    """
    if customer.team_id != team.pk:
        return False
    if channel is not None:
        q = compile_q(team, tree, base="contact", now=now)
        queryset = Contact.objects.for_team(team).filter(channel=channel, customer_id=customer.pk)
        if reachable_only:
            queryset = queryset.reachable()
        return queryset.filter(q).exists()
    q = compile_q(team, tree, base="customer", now=now)
    return Customer.objects.for_team(team).filter(pk=customer.pk).filter(q).exists()


def count(*, team, channel, tree, now=None):
    return contacts_matching(team=team, channel=channel, tree=tree, now=now).count()


def referenced_attribute_keys(tree):
    """The attribute keys a (raw) tree uses: for finding packs/journeys affected by an archive or a retype."""
    keys = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "attribute" and isinstance(node.get("key"), str):
                keys.add(node["key"])
            for child in node.get("children") or []:
                walk(child)

    walk(tree)
    return keys


# ------------------------------------------------------------------------------------------------ JSON schema


def _cond(kind, properties, required):
    return {
        "type": "object",
        "title": kind,
        "properties": {"type": {"type": "string", "enum": [kind]}, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


def _time_condition(kind):
    return _cond(
        kind,
        {
            "op": {"type": "string", "enum": list(TIME_OPS)},
            "days": {"type": "integer", "minimum": 1, "description": "within_last_days / more_than_days_ago"},
            "value": {
                "description": 'before / after: "YYYY-MM-DD"; between: ["YYYY-MM-DD", "YYYY-MM-DD"] (team time zone)',
                "oneOf": [
                    {"type": "string", "format": "date"},
                    {"type": "array", "items": {"type": "string", "format": "date"}, "minItems": 2, "maxItems": 2},
                ],
            },
        },
        ["op"],
    )


def condition_schemas():
    """JSON schemas of every condition type (used in the OpenAPI schema and the README)."""
    number = {"oneOf": [{"type": "number"}, {"type": "string"}]}
    all_attribute_ops = sorted({op for ops in ATTRIBUTE_OPS.values() for op in ops})
    schemas = [
        _cond(
            "tag",
            {
                "op": {"type": "string", "enum": ["has", "has_not"]},
                "match": {"type": "string", "enum": ["any", "all"], "default": "any"},
                "tags": {"type": "array", "minItems": 1, "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
            },
            ["op", "tags"],
        ),
        _cond(
            "attribute",
            {
                "key": {"type": "string"},
                "op": {"type": "string", "enum": all_attribute_ops, "description": "allowed ops depend on the type"},
                "value": {
                    "description": "text, number, date, [min, max] or days, by op",
                    "oneOf": [
                        {"type": "string"},
                        {"type": "number"},
                        {"type": "array", "items": number},
                    ],
                },
            },
            ["key", "op"],
        ),
    ]
    for kind in PROFILE_TYPES:
        schemas.append(
            _cond(
                kind,
                {"op": {"type": "string", "enum": ["equals", "is_set", "not_set"]}, "value": {"type": "string"}},
                ["op"],
            )
        )
    schemas += [_time_condition(kind) for kind in TIME_TYPES]
    schemas.append(_cond("binding", {"bound": {"type": "boolean"}}, ["bound"]))
    for kind in POINTS_TYPES:
        schemas.append(
            _cond(
                kind,
                {
                    "op": {"type": "string", "enum": list(COMPARE_OPS)},
                    "value": {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
                },
                ["op", "value"],
            )
        )
    schemas.append(
        _cond(
            "source",
            {
                "op": {"type": "string", "enum": ["in", "not_in"]},
                "values": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ContactSource.values}},
            },
            ["op", "values"],
        )
    )
    schemas.append(
        _cond(
            "channel",
            {
                "op": {"type": "string", "enum": ["has_contact", "has_no_contact"]},
                "channels": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
            },
            ["op", "channels"],
        )
    )
    return schemas


def json_schema():
    """The full JSON schema (draft 2020-12) of a condition tree, recursive through $defs."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/group",
        "$defs": {
            "group": {
                "type": "object",
                "properties": {
                    "op": {"type": "string", "enum": list(GROUP_OPS)},
                    "children": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": [{"$ref": "#/$defs/group"}, *condition_schemas()]},
                    },
                },
                "required": ["op", "children"],
                "additionalProperties": False,
            }
        },
    }


def openapi_schema():
    """An OpenAPI 3 inline version (nested groups one level deep are described; deeper nesting is allowed)."""
    nested = {
        "type": "object",
        "description": "a nested group {op, children} (any depth up to 6)",
        "properties": {"op": {"type": "string", "enum": list(GROUP_OPS)}, "children": {"type": "array", "items": {}}},
        "required": ["op", "children"],
    }
    return {
        "type": "object",
        "description": "A condition tree: nested AND / OR groups of conditions. See audiences/README.md.",
        "properties": {
            "op": {"type": "string", "enum": list(GROUP_OPS)},
            "children": {"type": "array", "minItems": 1, "items": {"oneOf": [nested, *condition_schemas()]}},
        },
        "required": ["op", "children"],
        "example": {
            "op": "and",
            "children": [
                {"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]},
                {"type": "last_customer_interaction", "op": "within_last_days", "days": 30},
            ],
        },
    }
