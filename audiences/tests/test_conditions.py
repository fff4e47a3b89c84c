"""The condition compiler against a brute-force Python evaluator, plus validation paths."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences.conditions import ConditionError, contacts_matching, customer_matches, validate
from cdp.models import (
    AttributeType,
    AttributeValue,
    Contact,
    ContactSource,
    CustomAttribute,
    CustomerTag,
    SubscriptionStatus,
)
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory

UTC = dt.UTC
NOW = dt.datetime(2024, 9, 19, 4, 0, tzinfo=UTC)
TAGS = ["VIP", "新客", "A", "B"]
SOURCES = [ContactSource.ORGANIC, ContactSource.IMPORT, ContactSource.COUPON]
DAYS = ["2024-08-01", "2024-09-01", "2024-09-10", "2024-09-18"]


# ------------------------------------------------------------------------------------------------ data


def build_world(team, seed=7, size=40):
    rnd = random.Random(seed)
    line = ChannelFactory(team=team, kind="line")
    other = ChannelFactory(team=team, kind="facebook")
    tags = {name: TagFactory(team=team, name=name) for name in TAGS}
    attrs = {
        "city": CustomAttribute.objects.create(team=team, key="city", label="City", type=AttributeType.TEXT),
        "spend": CustomAttribute.objects.create(team=team, key="spend", label="Spend", type=AttributeType.NUMBER),
        "birthday": CustomAttribute.objects.create(team=team, key="birthday", label="B", type=AttributeType.DATE),
        "seen": CustomAttribute.objects.create(team=team, key="seen", label="Seen", type=AttributeType.DATETIME),
        "vip": CustomAttribute.objects.create(team=team, key="vip", label="VIP", type=AttributeType.BOOLEAN),
    }

    def maybe_time():
        if rnd.random() < 0.25:
            return None
        return NOW - dt.timedelta(hours=rnd.randint(0, 24 * 70))

    contacts = []
    for i in range(size):
        contact = ContactFactory(
            channel=line if rnd.random() < 0.8 else other,
            status=rnd.choice(
                [SubscriptionStatus.SUBSCRIBED] * 4 + [SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BLOCKED]
            ),
            is_over_quota=rnd.random() < 0.1,
            unsubscribed_broadcast=rnd.random() < 0.1,
            source=rnd.choice(SOURCES),
            subscribed_at=maybe_time(),
            last_customer_interaction_at=maybe_time(),
            last_team_interaction_at=maybe_time(),
            last_team_marketing_at=maybe_time(),
        )
        customer = contact.customer
        customer.member_id = rnd.choice([None, f"M{i}", f"M{i}"]) if i % 7 else None
        if i == 1:
            customer.member_id = ""
        customer.email = rnd.choice(["", f"u{i % 5}@example.com"])
        customer.phone = rnd.choice(["", "+886912345678", "+886987654321"])
        customer.is_bound = rnd.random() < 0.4
        customer.points_balance = rnd.randint(0, 300)
        customer.points_accumulated = customer.points_balance + rnd.randint(0, 300)
        customer.last_checkout_at = maybe_time()
        customer.save()
        for name in TAGS:
            if rnd.random() < 0.35:
                CustomerTag.objects.create(team=team, customer=customer, tag=tags[name])
        if rnd.random() < 0.7:
            AttributeValue.objects.create(
                team=team, customer=customer, attribute=attrs["city"], text_value=rnd.choice(["Taipei", "taichung", ""])
            )
        if rnd.random() < 0.7:
            AttributeValue.objects.create(
                team=team, customer=customer, attribute=attrs["spend"], number_value=Decimal(rnd.randint(0, 20)) * 50
            )
        if rnd.random() < 0.7:
            day = dt.date(2024, 8, 1) + dt.timedelta(days=rnd.randint(0, 45))
            AttributeValue.objects.create(
                team=team,
                customer=customer,
                attribute=attrs["birthday"],
                datetime_value=dt.datetime.combine(day, dt.time.min, tzinfo=UTC),
            )
        if rnd.random() < 0.7:
            AttributeValue.objects.create(
                team=team, customer=customer, attribute=attrs["seen"], datetime_value=maybe_time()
            )
        if rnd.random() < 0.7:
            AttributeValue.objects.create(
                team=team, customer=customer, attribute=attrs["vip"], bool_value=rnd.choice([True, False, None])
            )
        contacts.append(contact)
    # a second contact for a few customers (on the other channel), for channel / customer-level conditions
    for contact in contacts[:6]:
        ContactFactory(
            channel=other, customer=contact.customer, source=ContactSource.COUPON, subscribed_at=maybe_time()
        )
    return line, other


# -------------------------------------------------------------------------------------- the reference evaluator


def _bounds(day, zone):
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time.min, tzinfo=zone)
    return start, start + dt.timedelta(days=1)


def eval_time(value, op, raw, zone):
    if op == "is_set":
        return value is not None
    if op == "not_set":
        return value is None
    if value is None:
        return False
    if op == "within_last_days":
        return value >= NOW - dt.timedelta(days=raw)
    if op == "more_than_days_ago":
        return value < NOW - dt.timedelta(days=raw)
    if op == "before":
        return value < _bounds(raw, zone)[0]
    if op == "after":
        return value >= _bounds(raw, zone)[1]
    if op == "on":
        start, end = _bounds(raw, zone)
        return start <= value < end
    if op == "between":
        return _bounds(raw[0], zone)[0] <= value < _bounds(raw[1], zone)[1]
    raise AssertionError(op)


class World:
    """Everything loaded into Python: one dict per contact."""

    def __init__(self, team):
        self.team = team
        self.zone = team.zone
        self.tags = {t.pk: t.name for t in TagFactory._meta.model.objects.filter(team=team)}
        self.tag_ids = {name: pk for pk, name in self.tags.items()}
        self.customer_tags = {}
        for ct in CustomerTag.objects.filter(team=team):
            self.customer_tags.setdefault(ct.customer_id, set()).add(ct.tag_id)
        self.values = {}
        for av in AttributeValue.objects.filter(team=team).select_related("attribute"):
            self.values[(av.customer_id, av.attribute.key)] = av
        self.contacts = list(Contact.objects.filter(team=team).select_related("customer"))
        self.by_customer = {}
        for c in self.contacts:
            self.by_customer.setdefault(c.customer_id, []).append(c)

    def matches(self, node, contact, base="contact"):
        if "children" in node:
            results = [self.matches(child, contact, base) for child in node["children"]]
            return all(results) if node["op"] == "and" else any(results)
        customer = contact.customer
        kind = node["type"]
        if kind == "tag":
            ids = {self.tag_ids[t] if isinstance(t, str) else t for t in node["tags"]}
            have = self.customer_tags.get(customer.pk, set())
            hit = bool(ids & have) if node.get("match", "any") == "any" else ids <= have
            return hit if node["op"] == "has" else not hit
        if kind == "attribute":
            return self.attribute(node, customer)
        if kind in ("member_id", "phone", "email"):
            value = getattr(customer, kind) or ""
            if node["op"] == "is_set":
                return value != ""
            if node["op"] == "not_set":
                return value == ""
            return value == (node["value"].lower() if kind == "email" else node["value"])
        if kind in ("last_customer_interaction", "last_team_interaction", "last_team_marketing", "subscribed_at"):
            field = {"subscribed_at": "subscribed_at"}.get(kind, f"{kind}_at")
            if base == "contact":
                return eval_time(getattr(contact, field), node["op"], node.get("value", node.get("days")), self.zone)
            if kind == "subscribed_at":
                values = [c.subscribed_at for c in self.by_customer[customer.pk]]
                if node["op"] == "not_set":
                    return all(v is None for v in values)
                return any(eval_time(v, node["op"], node.get("value", node.get("days")), self.zone) for v in values)
            return eval_time(getattr(customer, field), node["op"], node.get("value", node.get("days")), self.zone)
        if kind == "last_checkout":
            return eval_time(customer.last_checkout_at, node["op"], node.get("value", node.get("days")), self.zone)
        if kind == "binding":
            return customer.is_bound == node["bound"]
        if kind in ("points_balance", "points_accumulated"):
            value, op, ref = getattr(customer, kind), node["op"], node["value"]
            return {
                "eq": lambda: value == ref,
                "neq": lambda: value != ref,
                "gt": lambda: value > ref,
                "gte": lambda: value >= ref,
                "lt": lambda: value < ref,
                "lte": lambda: value <= ref,
                "between": lambda: ref[0] <= value <= ref[1],
            }[op]()
        if kind == "source":
            sources = {contact.source} if base == "contact" else {c.source for c in self.by_customer[customer.pk]}
            hit = bool(sources & set(node["values"]))
            return hit if node["op"] == "in" else not hit
        if kind == "channel":
            hit = any(
                c.channel_id in node["channels"] and c.status == SubscriptionStatus.SUBSCRIBED
                for c in self.by_customer[customer.pk]
            )
            return hit if node["op"] == "has_contact" else not hit
        raise AssertionError(kind)

    def attribute(self, node, customer):
        av = self.values.get((customer.pk, node["key"]))
        op, ref = node["op"], node.get("value")
        attr_type = {"city": "text", "spend": "number", "birthday": "date", "seen": "datetime", "vip": "boolean"}[
            node["key"]
        ]
        column = {"text": "text_value", "number": "number_value", "boolean": "bool_value"}.get(
            attr_type, "datetime_value"
        )
        value = getattr(av, column) if av else None
        present = value is not None and value != ""
        if op == "empty":
            return not present
        if op == "not_empty":
            return present
        if attr_type == "text":
            if op == "equals":
                return value == ref
            if op == "not_equals":
                return value != ref
            if op == "contains":
                return value is not None and ref.lower() in value.lower()
            return not (value is not None and ref.lower() in value.lower())
        if attr_type == "number":
            if op == "neq":
                return value != Decimal(str(ref))
            if value is None:
                return False
            if op == "between":
                return Decimal(str(ref[0])) <= value <= Decimal(str(ref[1]))
            r = Decimal(str(ref))
            return {"eq": value == r, "gt": value > r, "gte": value >= r, "lt": value < r, "lte": value <= r}[op]
        if attr_type == "boolean":
            return value is (op == "is_true")
        zone = UTC if attr_type == "date" else self.zone
        return eval_time(value, op, ref, zone)

    def expected(self, channel, tree):
        return {
            c.pk
            for c in self.contacts
            if c.channel_id == channel.pk
            # seed 001 / issue 24.10: only blocking and the broadcast scope leave a contact out of audiences
            and c.status != SubscriptionStatus.BLOCKED
            and not c.is_over_quota
            and not c.unsubscribed_broadcast
            and self.matches(tree, c)
        }


# ---------------------------------------------------------------------------------------- tree strategies


def leaf(other_channel_id):
    time_types = ["last_customer_interaction", "last_team_interaction", "last_team_marketing", "last_checkout"]
    time_types.append("subscribed_at")
    time_op = st.one_of(
        st.builds(
            lambda o, d: {"op": o, "days": d},
            st.sampled_from(["within_last_days", "more_than_days_ago"]),
            st.integers(1, 60),
        ),
        st.builds(lambda o, v: {"op": o, "value": v}, st.sampled_from(["before", "after"]), st.sampled_from(DAYS)),
        st.builds(
            lambda a, b: {"op": "between", "value": sorted([a, b])}, st.sampled_from(DAYS), st.sampled_from(DAYS)
        ),
        st.builds(lambda o: {"op": o}, st.sampled_from(["is_set", "not_set"])),
    )
    date_attr_op = st.one_of(
        st.builds(
            lambda o, v: {"op": o, "value": v}, st.sampled_from(["before", "after", "on"]), st.sampled_from(DAYS)
        ),
        st.builds(
            lambda a, b: {"op": "between", "value": sorted([a, b])}, st.sampled_from(DAYS), st.sampled_from(DAYS)
        ),
        st.builds(lambda d: {"op": "within_last_days", "value": d}, st.integers(1, 60)),
        st.builds(lambda o: {"op": o}, st.sampled_from(["empty", "not_empty"])),
    )
    return st.one_of(
        st.builds(
            lambda op, match, tags: {"type": "tag", "op": op, "match": match, "tags": tags},
            st.sampled_from(["has", "has_not"]),
            st.sampled_from(["any", "all"]),
            st.lists(st.sampled_from(TAGS), min_size=1, max_size=3, unique=True),
        ),
        st.builds(
            lambda op, v: {"type": "attribute", "key": "city", "op": op, "value": v},
            st.sampled_from(["equals", "not_equals", "contains", "not_contains"]),
            st.sampled_from(["Taipei", "tai", "CHUNG", "x"]),
        ),
        st.builds(lambda op: {"type": "attribute", "key": "city", "op": op}, st.sampled_from(["empty", "not_empty"])),
        st.builds(
            lambda op, v: {"type": "attribute", "key": "spend", "op": op, "value": v},
            st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]),
            st.sampled_from([0, 100, 250, 500.0, "750"]),
        ),
        st.builds(
            lambda a, b: {"type": "attribute", "key": "spend", "op": "between", "value": sorted([a, b])},
            st.integers(0, 1000),
            st.integers(0, 1000),
        ),
        st.builds(lambda spec: {"type": "attribute", "key": "birthday", **spec}, date_attr_op),
        st.builds(lambda spec: {"type": "attribute", "key": "seen", **spec}, date_attr_op),
        st.builds(
            lambda op: {"type": "attribute", "key": "vip", "op": op},
            st.sampled_from(["is_true", "is_false", "empty", "not_empty"]),
        ),
        st.builds(
            lambda t, op, v: {"type": t, "op": op, **({"value": v} if op == "equals" else {})},
            st.sampled_from(["member_id", "email"]),
            st.sampled_from(["equals", "is_set", "not_set"]),
            st.sampled_from(["M3", "u1@example.com", "U2@Example.com"]),
        ),
        st.builds(lambda t, spec: {"type": t, **spec}, st.sampled_from(time_types), time_op),
        st.builds(lambda b: {"type": "binding", "bound": b}, st.booleans()),
        st.builds(
            lambda t, op, v: {"type": t, "op": op, "value": v},
            st.sampled_from(["points_balance", "points_accumulated"]),
            st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]),
            st.integers(0, 400),
        ),
        st.builds(
            lambda op, vs: {"type": "source", "op": op, "values": vs},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from([s.value for s in SOURCES]), min_size=1, max_size=2, unique=True),
        ),
        st.builds(
            lambda op: {"type": "channel", "op": op, "channels": [other_channel_id]},
            st.sampled_from(["has_contact", "has_no_contact"]),
        ),
    )


def trees(other_channel_id):
    return st.recursive(
        leaf(other_channel_id),
        lambda children: st.builds(
            lambda op, kids: {"op": op, "children": kids},
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        max_leaves=8,
    ).map(lambda node: node if "children" in node else {"op": "and", "children": [node]})


# ---------------------------------------------------------------------------------------------------- tests


@pytest.fixture
def world(team):
    line, other = build_world(team)
    return line, other, World(team)


@pytest.mark.django_db
def test_compiler_matches_brute_force_evaluator(world, team):
    line, other, evaluator = world

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(tree=trees(other.pk))
    def check(tree):
        got = set(contacts_matching(team=team, channel=line, tree=tree, now=NOW).values_list("pk", flat=True))
        assert got == evaluator.expected(line, tree), tree

    check()


@pytest.mark.django_db
def test_customer_matches_agrees_with_evaluator(world, team):
    line, other, evaluator = world
    customers = {c.customer_id: c for c in evaluator.contacts}

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(tree=trees(other.pk))
    def check(tree):
        for contact in list(customers.values())[:12]:
            got = customer_matches(team=team, customer=contact.customer, tree=tree, now=NOW)
            assert got == evaluator.matches(tree, contact, base="customer"), (tree, contact.pk)
            got = customer_matches(team=team, customer=contact.customer, tree=tree, channel=contact.channel, now=NOW)
            want = any(
                evaluator.matches(tree, c, base="contact")
                for c in evaluator.by_customer[contact.customer_id]
                if c.channel_id == contact.channel_id
            )
            assert got == want, (tree, contact.pk)

    check()


@pytest.mark.django_db
def test_one_query_and_exists_not_join(world, team):
    line, _other, _ev = world
    tree = {
        "op": "and",
        "children": [
            {"type": "tag", "op": "has", "match": "all", "tags": ["VIP", "A"]},
            {"op": "or", "children": [{"type": "attribute", "key": "spend", "op": "gt", "value": 100}]},
        ],
    }
    queryset = contacts_matching(team=team, channel=line, tree=tree, now=NOW)
    with CaptureQueriesContext(connection) as ctx:
        queryset.count()
    counted = [q["sql"] for q in ctx.captured_queries]
    assert len(counted) == 1
    sql = counted[0].upper()
    assert "EXISTS" in sql and "DISTINCT" not in sql and "CDP_CUSTOMERTAG" not in sql.split("WHERE")[0]


@pytest.mark.django_db
def test_unreachable_contacts_never_counted(team):
    line = ChannelFactory(team=team)
    tag = TagFactory(team=team, name="VIP")
    kinds = [
        {},
        {"status": SubscriptionStatus.UNSUBSCRIBED, "unsubscribed_web_push": True},  # another scope: reachable
        {"status": SubscriptionStatus.BLOCKED},
        {"is_over_quota": True},
        {"status": SubscriptionStatus.UNSUBSCRIBED, "unsubscribed_broadcast": True},
    ]
    contacts = [ContactFactory(channel=line, **kw) for kw in kinds]
    for c in contacts:
        CustomerTag.objects.create(team=team, customer=c.customer, tag=tag)
    tree = {"op": "and", "children": [{"type": "tag", "op": "has", "tags": ["VIP"]}]}
    assert list(contacts_matching(team=team, channel=line, tree=tree).order_by("pk")) == contacts[:2]


BAD = [
    ({"op": "and", "children": []}, "conditions.children"),
    ({"op": "xor", "children": [{"type": "binding", "bound": True}]}, "conditions.op"),
    ([], "conditions"),
    ({"op": "and", "children": [{"type": "tag", "op": "has", "tags": ["nope"]}]}, "conditions.children[0].tags[0]"),
    ({"op": "and", "children": [{"type": "tag", "op": "has", "tags": []}]}, "conditions.children[0].tags"),
    (
        {"op": "or", "children": [{"type": "binding", "bound": True}, {"op": "and", "children": []}]},
        "conditions.children[1].children",
    ),
    (
        {"op": "and", "children": [{"type": "attribute", "key": "ghost", "op": "equals", "value": "x"}]},
        "conditions.children[0].key",
    ),
    (
        {"op": "and", "children": [{"type": "attribute", "key": "old", "op": "equals", "value": "x"}]},
        "conditions.children[0].key",
    ),
    (
        {"op": "and", "children": [{"type": "attribute", "key": "spend", "op": "gt", "value": "lots"}]},
        "conditions.children[0].value",
    ),
    (
        {"op": "and", "children": [{"type": "attribute", "key": "spend", "op": "contains", "value": "1"}]},
        "conditions.children[0].op",
    ),
    ({"op": "and", "children": [{"type": "points_balance", "op": "gt", "value": 1.5}]}, "conditions.children[0].value"),
    (
        {"op": "and", "children": [{"type": "last_checkout", "op": "before", "value": "2024-13-01"}]},
        "conditions.children[0].value",
    ),
    (
        {"op": "and", "children": [{"type": "last_checkout", "op": "between", "value": ["2024-02-01", "2024-01-01"]}]},
        "conditions.children[0].value",
    ),
    ({"op": "and", "children": [{"type": "wat"}]}, "conditions.children[0].type"),
    ({"op": "and", "children": [{"type": "binding", "bound": True, "extra": 1}]}, "conditions.children[0].extra"),
    (
        {"op": "and", "children": [{"type": "source", "op": "in", "values": ["nowhere"]}]},
        "conditions.children[0].values[0]",
    ),
    (
        {"op": "and", "children": [{"type": "channel", "op": "has_contact", "channels": [999999]}]},
        "conditions.children[0].channels[0]",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("tree,path", BAD)
def test_bad_trees_name_the_path(team, tree, path):
    from django.utils import timezone

    CustomAttribute.objects.create(team=team, key="spend", label="Spend", type=AttributeType.NUMBER)
    CustomAttribute.objects.create(team=team, key="old", label="Old", type="text", archived_at=timezone.now())
    with pytest.raises(ConditionError) as info:
        validate(team, tree)
    assert info.value.path == path, info.value


@pytest.mark.django_db
def test_other_teams_tags_are_unknown(team, other_team):
    foreign = TagFactory(team=other_team, name="VIP")
    with pytest.raises(ConditionError) as info:
        validate(team, {"op": "and", "children": [{"type": "tag", "op": "has", "tags": [foreign.pk]}]})
    assert info.value.path == "conditions.children[0].tags[0]"


@pytest.mark.django_db
def test_customer_row_conditions_under_or_are_probed_after_their_siblings(world, team):
    """Under an OR, points / binding / profile conditions are one EXISTS on the customer row, after the group's
    tag test and fenced with OFFSET 0 (a per-contact probe, never a hashed set); at the top (AND only) they
    stay a JOIN on the customer."""
    line, _other, _ev = world
    nested = {
        "op": "or",
        "children": [
            {"type": "tag", "op": "has", "tags": ["VIP"]},
            {
                "op": "and",
                "children": [
                    {"type": "points_balance", "op": "gte", "value": 100},
                    {"type": "tag", "op": "has", "tags": ["A"]},
                ],
            },
        ],
    }
    sql = str(contacts_matching(team=team, channel=line, tree=nested, now=NOW).query).upper()
    assert "JOIN" not in sql and "DISTINCT" not in sql
    probe = sql.index("OFFSET 0")
    assert sql.index("POINTS_BALANCE") < probe and sql.rindex("CDP_CUSTOMERTAG") < sql.index("POINTS_BALANCE")
    flat = {"op": "and", "children": [{"type": "binding", "bound": True}, {"type": "tag", "op": "has", "tags": ["A"]}]}
    sql = str(contacts_matching(team=team, channel=line, tree=flat, now=NOW).query).upper()
    assert "INNER JOIN" in sql and "OFFSET" not in sql


PREVIEW_TREES = [
    {
        "op": "and",
        "children": [
            {"type": "attribute", "key": "spend", "op": "between", "value": [100, 800]},
            {"type": "binding", "bound": True},
        ],
    },
    {
        "op": "or",
        "children": [
            {"type": "tag", "op": "has", "tags": ["VIP"]},
            {
                "op": "and",
                "children": [
                    {"type": "attribute", "key": "city", "op": "equals", "value": "Taipei"},
                    {"type": "points_balance", "op": "gte", "value": 100},
                ],
            },
        ],
    },
    {
        "op": "and",
        "children": [
            {"type": "tag", "op": "has_not", "tags": ["A"]},
            {"type": "source", "op": "in", "values": [ContactSource.ORGANIC, ContactSource.IMPORT]},
        ],
    },
    {"op": "and", "children": [{"type": "tag", "op": "has", "match": "all", "tags": ["VIP", "A", "B"]}]},
]


@pytest.mark.django_db
@pytest.mark.parametrize("window", [1, 4, 1000])
@pytest.mark.parametrize("tree", PREVIEW_TREES)
def test_preview_pages_are_the_matching_contacts_newest_first(world, team, monkeypatch, tree, window):
    """The preview's two steps (the newest PREVIEW_WINDOW contacts probed, then the older ones) page through
    exactly the matching contacts, newest first, whatever the window size."""
    from audiences import services

    line, _other, _ev = world
    monkeypatch.setattr(services, "PREVIEW_WINDOW", window)
    want = list(contacts_matching(team=team, channel=line, tree=tree).order_by("-pk").values_list("pk", flat=True))
    assert services.preview(team=team, channel=line, conditions=tree) == list(
        contacts_matching(team=team, channel=line, tree=tree).order_by("-pk")[: services.PREVIEW_PAGE]
    )
    got, after = [], None
    while True:
        page = services.preview(team=team, channel=line, conditions=tree, limit=3, after_id=after)
        got += [contact.pk for contact in page]
        if len(page) < 3:
            break
        after = page[-1].pk
    assert got == want


@pytest.mark.django_db
def test_preview_probes_each_of_the_newest_contacts_first(world, team, monkeypatch):
    """The first preview query walks a bounded window of the newest contacts (id >= the PREVIEW_WINDOW-th newest)
    and tests each by per-row probes: every EXISTS fenced with OFFSET 0, so the planner cannot build the whole
    tag / attribute set first and sort it (the total_spent range AND bound shape at 1M contacts: ~550 ms with the
    set-first plan fresh statistics chose, ~5 ms walking); only the older contacts get the plain query."""
    from audiences import services

    line, _other, _ev = world
    monkeypatch.setattr(services, "PREVIEW_WINDOW", 4)
    tree = {
        "op": "and",
        "children": [
            {"type": "attribute", "key": "spend", "op": "between", "value": [100, 800]},
            {"type": "tag", "op": "has", "tags": ["VIP"]},
            {"type": "binding", "bound": True},
        ],
    }
    with CaptureQueriesContext(connection) as ctx:
        services.preview(team=team, channel=line, conditions=tree)
    matching = [q["sql"].upper() for q in ctx.captured_queries if "CDP_ATTRIBUTEVALUE" in q["sql"].upper()]
    assert len(matching) == 2  # the window had fewer than 50 matches: the older contacts are asked too
    window, older = matching
    assert '"CDP_CONTACT"."ID" >=' in window and window.count("EXISTS") == window.count("OFFSET 0") == 2
    assert '"CDP_CONTACT"."ID" <' in older and "OFFSET 0" not in older
