"""`manage.py seed_demo`: a realistic demo team, deterministic for a seed, written in bulk.

Extension point for other apps: after the cdp data is written, seed_demo imports `<app>.demo` for every app in
INSTALLED_APPS order (which is the dependency order: messaging, coupons, commerce, omnilink, audiences, journeys,
analytics, billing: audiences counts its packs after every app that writes customer data) and
calls its `seed(team, rng, **context)`. `rng` is a `random.Random` seeded from --seed and the app label, so each
app's data is deterministic and independent of the others. `context` holds only the keywords the function
accepts, among: `now` (the anchor datetime, UTC), `contacts` (N), `seed` (S), `stdout` (to report progress).
A minimal hook is therefore:

    # messaging/demo.py
    def seed(team, rng, *, now):
        ...  # bulk_create rows for team; read channels/contacts of team from the database

Hooks must write in bulk (no per-row services) so that `--contacts 1000000` stays fast. The cdp rows themselves
are written by `cdp.imports.insert_rows`, one INSERT per table and chunk, from plain column lists.
"""

import inspect
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import import_module
from itertools import accumulate

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries, transaction

from accounts.models import Team
from accounts.services import create_team
from cdp import quota
from cdp.imports import VALUE_COLUMNS, insert_rows
from cdp.models import (
    AttributeType,
    AttributeValue,
    Binding,
    BindingMethod,
    Channel,
    ChannelKind,
    Contact,
    ContactSource,
    CustomAttribute,
    Customer,
    CustomerEvent,
    CustomerTag,
    EventType,
    ImportJob,
    MergeRecord,
    Order,
    PointsSource,
    PointsTransaction,
    SubscriptionStatus,
    Tag,
)


def _weighted(pairs):
    """(values, cumulative weights) of (value, weight) pairs, for `_pick`."""
    return [value for value, _weight in pairs], list(accumulate(weight for _value, weight in pairs))


def _pick(rng, weighted):
    """One value drawn by weight. Cumulative weights computed once give the same draws as `weights=` would."""
    values, cum_weights = weighted
    return rng.choices(values, cum_weights=cum_weights)[0]


HISTORY_DAYS = 548  # 18 months
CHUNK = 5000

CHANNELS = [
    (ChannelKind.LINE, "LINE 官方帳號", 0.44),
    (ChannelKind.FACEBOOK, "Facebook 粉絲專頁", 0.18),
    (ChannelKind.INSTAGRAM, "Instagram 品牌帳號", 0.14),
    (ChannelKind.WHATSAPP, "WhatsApp 客服專線", 0.15),
    (ChannelKind.WECHAT, "WeChat 服務號", 0.03),
    (ChannelKind.WEB, "官網訪客", 0.06),
]
CHANNEL_KINDS = _weighted([(kind, weight) for kind, _name, weight in CHANNELS])

S = ContactSource
# Which new-contact sources are possible on which channel, with believable weights.
SOURCES = {
    ChannelKind.LINE: _weighted(
        [
            (S.ORGANIC, 40),
            (S.KEYWORD, 12),
            (S.WEBSITE_BINDING, 10),
            (S.OMO_BINDING, 8),
            (S.IMPORT, 6),
            (S.API_SYNC, 6),
            (S.CART_REMARKETING, 5),
            (S.COUPON, 5),
            (S.GAME, 3),
            (S.APP91_LINE_BINDING, 5),
        ]
    ),
    ChannelKind.FACEBOOK: _weighted(
        [
            (S.ORGANIC, 35),
            (S.FB_POST_REPLY, 20),
            (S.FB_AD_MESSENGER, 15),
            (S.FB_RECURRING_NOTIFICATION, 8),
            (S.KEYWORD, 8),
            (S.WEBSITE_BINDING, 6),
            (S.COUPON, 5),
            (S.GAME, 3),
        ]
    ),
    ChannelKind.INSTAGRAM: _weighted(
        [
            (S.ORGANIC, 35),
            (S.IG_POST_REPLY, 20),
            (S.IG_STORY_REPLY, 15),
            (S.IG_STORY_MENTION, 12),
            (S.IG_LIVE_COMMENT_REPLY, 10),
            (S.KEYWORD, 8),
        ]
    ),
    ChannelKind.WHATSAPP: _weighted(
        [
            (S.ORGANIC, 35),
            (S.FB_AD_WHATSAPP, 20),
            (S.PIXEL, 15),
            (S.MANUAL, 10),
            (S.IMPORT, 10),
            (S.CART_REMARKETING, 5),
            (S.OMO_BINDING, 5),
        ]
    ),
    ChannelKind.WECHAT: _weighted([(S.ORGANIC, 70), (S.KEYWORD, 20), (S.IMPORT, 10)]),
    ChannelKind.WEB: _weighted([(S.ORGANIC, 60), (S.CART_REMARKETING, 25), (S.WEBSITE_BINDING, 15)]),
}
METHODS = _weighted(
    [
        (BindingMethod.BINDING_PLUGIN, 35),
        (BindingMethod.CHATBOT_TO_WEBSITE, 25),
        (BindingMethod.CART_REMARKETING, 15),
        (BindingMethod.COUPON, 10),
        (BindingMethod.OMNILINK, 8),
        (BindingMethod.API, 7),
    ]
)
PHONE_METHODS = _weighted([(BindingMethod.CART_REMARKETING, 60), (BindingMethod.COUPON, 40)])  # no member
CONTACTS_PER_BOUND = _weighted([(1, 55), (2, 32), (3, 13)])
ORDERS_PER_MEMBER = _weighted([(0, 45), (1, 30), (2, 15), (3, 7), (4, 3)])
TAGS_PER_CUSTOMER = _weighted([(0, 35), (1, 35), (2, 20), (3, 10)])
TAGS = ["VIP", "新客", "回購客", "沉睡客", "高互動", "母親節活動", "週年慶", "雙11", "美妝", "保養", "男裝", "女裝"]
ATTRIBUTES = [
    ("member_level", "會員等級", AttributeType.TEXT),
    ("birthday", "生日", AttributeType.DATE),
    ("total_spent", "累積消費金額", AttributeType.NUMBER),
    ("last_login_at", "最後登入時間", AttributeType.DATETIME),
    ("newsletter", "訂閱電子報", AttributeType.BOOLEAN),
]
LEVELS = ["一般會員", "銀卡", "金卡", "白金卡"]
SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周葉蘇莊呂江何蕭羅高潘簡朱鍾彭游詹胡施沈余盧梁趙顏柯翁魏孫戴"
GIVEN = "怡君 雅婷 家豪 志明 淑芬 冠宇 宜蓁 承恩 詩涵 俊傑 佳穎 宗翰 欣怡 柏翰 思妤 彥廷 美玲 建宏 品妤 子軒".split()
PRODUCTS = [
    ("保濕精華液", 1280),
    ("洗面乳", 390),
    ("防曬乳", 650),
    ("針織上衣", 990),
    ("牛仔褲", 1490),
    ("帆布包", 780),
]


def _external_id(rng, kind, phone):
    if kind == ChannelKind.LINE:
        return f"U{rng.getrandbits(128):032x}"
    if kind == ChannelKind.FACEBOOK:
        return str(rng.randrange(10**15, 10**16))
    if kind == ChannelKind.INSTAGRAM:
        return str(rng.randrange(10**16, 10**17))
    if kind == ChannelKind.WHATSAPP:
        return phone
    if kind == ChannelKind.WECHAT:
        return f"o{rng.getrandbits(104):026x}"
    return f"v_{rng.getrandbits(96):024x}"


def _phone(index):
    # A bijection of the person index onto Taiwanese mobile numbers (48271 is coprime with 10**8): unique, valid.
    return f"+8869{(index * 48271 + 12345678) % 100_000_000:08d}"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--team", default="demo", help="team slug (created if missing); default demo")
        parser.add_argument("--contacts", type=int, default=5000, help="number of channel contacts (default 5000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")
        parser.add_argument("--now", help="anchor date YYYY-MM-DD (UTC) the 18 months end at; default today")
        parser.add_argument("--flush", action="store_true", help="delete the team's customer data first")

    def handle(self, *args, team, contacts, seed, now, flush, **options):
        if contacts < 0:
            raise CommandError("--contacts must be zero or more")
        anchor = _anchor(now)
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            team_obj = create_team(slug=team, name="Demo Brand 示範品牌", time_zone="Asia/Taipei", contact_quota=20000)
        if Contact.objects.for_team(team_obj).exists():
            if not flush:
                raise CommandError(f"Team {team} already has contacts; pass --flush to replace its customer data.")
            _flush(team_obj)
        started = time.perf_counter()
        seeder = CdpSeeder(team_obj, random.Random(f"{seed}:cdp"), anchor, self.stdout)
        seeder.run(contacts)
        self.stdout.write(f"cdp: {contacts} contacts in {time.perf_counter() - started:.1f}s")
        _analyze()
        quota.refresh_over_quota(team_obj)
        for label, hook in demo_hooks():
            app_started = time.perf_counter()
            context = {"now": anchor, "contacts": contacts, "seed": seed, "stdout": self.stdout}
            accepted = inspect.signature(hook).parameters
            if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
                context = {key: value for key, value in context.items() if key in accepted}
            hook(team_obj, random.Random(f"{seed}:{label}"), **context)
            self.stdout.write(f"{label}: demo data in {time.perf_counter() - app_started:.1f}s")
        self.stdout.write(self.style.SUCCESS(f"Seeded team {team_obj.slug} in {time.perf_counter() - started:.1f}s"))


def _analyze():
    """Refresh the planner statistics of the tables just filled, before the hooks query them.

    Autovacuum gets there eventually, but the hooks run at once: on a fresh database their counts over
    contacts and tags otherwise get plans fit for empty tables (audiences' hook took 14 s instead of 1 s at
    30,000 contacts, 27 s at 100,000).
    """
    models = [Customer, Contact, CustomerTag, AttributeValue, Binding, CustomerEvent, Order, Tag]
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def demo_hooks():
    """(app label, seed function) for every installed app except cdp that has a `demo` module with `seed`."""
    hooks = []
    for config in apps.get_app_configs():
        if config.label == "cdp":
            continue
        try:
            module = import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
            continue
        if callable(getattr(module, "seed", None)):
            hooks.append((config.label, module.seed))
    return hooks


def _anchor(value):
    if value:
        try:
            day = datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise CommandError("--now must be a date YYYY-MM-DD")
    else:
        day = datetime.now(UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


FLUSHED = (
    CustomerEvent,
    PointsTransaction,
    Order,
    Binding,
    CustomerTag,
    AttributeValue,
    MergeRecord,
    ImportJob,
    Contact,
    Customer,
)


def _flush(team):
    """Delete the team's customer data. Rows of other apps that point at it (journey enrollments, outbound
    messages, ...) go first through the ORM; then the cdp tables, children first, set-based."""
    for config in reversed(list(apps.get_app_configs())):
        if config.label == "cdp":
            continue
        for model in config.get_models():
            for field in model._meta.concrete_fields:
                if field.many_to_one and field.related_model in FLUSHED:
                    model._default_manager.filter(**{f"{field.name}__team": team}).delete()
    for model in FLUSHED[:-2]:
        model.objects.filter(team=team)._raw_delete(model.objects.db)
    Contact.objects.filter(team=team)._raw_delete(Contact.objects.db)
    Customer.objects.filter(team=team).update(merged_into=None)
    Customer.objects.filter(team=team)._raw_delete(Customer.objects.db)


CUSTOMER_FIELDS = (
    "name",
    "phone",
    "email",
    "member_id",
    "is_member",
    "is_bound",
    "created_at",
    "member_since",
    "first_bound_at",
    "first_bound_method",
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
    "last_checkout_at",
    "points_balance",
    "points_accumulated",
)
CONTACT_FIELDS = (
    "channel",
    "customer",
    "external_id",
    "phone",
    "display_name",
    "source",
    "status",
    "created_at",
    "subscribed_at",
    "status_changed_at",
    "unsubscribed_broadcast",
    "fb_recurring_optin",
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
    "omo_staff",
    "omo_branch",
)
INTERACTIONS = ("last_customer_interaction_at", "last_team_marketing_at", "last_team_interaction_at")


class Rows:
    """One model's rows of a chunk, kept as one list per column (what cdp.imports.insert_rows takes), plus the
    values that are the same on every row.

    `customer` and `contact` hold positions in the chunk until the chunk's customers and contacts are written;
    `write` turns them into their ids.
    """

    def __init__(self, model, *names, **constants):
        self.model = model
        self.columns = {name: [] for name in names}
        self.constants = constants

    def add(self, **row):
        if row.keys() != self.columns.keys():
            raise ValueError(f"{self.model.__name__} row has columns {sorted(row)}, expected {sorted(self.columns)}")
        for name, value in row.items():
            self.columns[name].append(value)

    def write(self, customer_ids, contact_ids):
        columns = dict(self.columns)
        if not columns["customer"]:
            return
        columns["customer"] = [customer_ids[i] for i in columns["customer"]]
        if "contact" in columns:
            columns["contact"] = [None if i is None else contact_ids[i] for i in columns["contact"]]
        insert_rows(self.model, {**self.constants, **columns})


class CdpSeeder:
    """Writes the demo's cdp rows chunk by chunk: customers and contacts are dicts, their related rows `Rows`,
    all written by insert_rows (no model instances). The random draws happen in a fixed order, so a seed
    always gives the same rows."""

    def __init__(self, team, rng, now, stdout):
        self.team, self.rng, self.now, self.stdout = team, rng, now, stdout
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.person = 0
        self.order_seq = 0

    def run(self, n):
        self.channels = self._channels()
        self.tags = self._tags()
        self.attributes = self._attributes()
        # The team has no contacts at this point (handle flushed them or refused). When n exceeds the quota nearly
        # every contact ends over it: writing them so leaves quota.refresh_over_quota the few within the quota to
        # flip, instead of an UPDATE of almost every row and its indexes.
        self.over_quota = n > self.team.contact_quota
        done = 0
        while done < n:
            size = min(CHUNK, n - done)
            with transaction.atomic():
                self._chunk(size)
            reset_queries()  # with DEBUG on, the logged INSERTs would otherwise pile up in memory
            done += size
            if n >= 50_000 and done % 50_000 < CHUNK:
                self.stdout.write(f"  {done:,} / {n:,} contacts")

    def _channels(self):
        found = {}
        for kind, name, _weight in CHANNELS:
            channel = Channel.objects.filter(team=self.team, kind=kind, is_sandbox=True).first()
            if channel is None:
                channel = Channel.objects.create(
                    team=self.team,
                    kind=kind,
                    name=name,
                    external_id=f"sandbox-{kind}-{self.team.slug}",
                    is_sandbox=True,
                    created_at=self.start - timedelta(days=30),
                )
            found[kind] = channel
        return found

    def _tags(self):
        existing = {t.name: t for t in Tag.objects.filter(team=self.team, name__in=TAGS)}
        missing = [Tag(team=self.team, name=name, created_at=self.start) for name in TAGS if name not in existing]
        Tag.objects.bulk_create(missing)
        existing.update({t.name: t for t in missing})
        return [existing[name] for name in TAGS]

    def _attributes(self):
        found = {}
        for key, label, type_ in ATTRIBUTES:
            found[key], _ = CustomAttribute.objects.get_or_create(
                team=self.team, key=key, defaults={"label": label, "type": type_, "created_at": self.start}
            )
        return found

    def _time_after(self, at, max_days):
        limit = min((self.now - at).total_seconds(), max_days * 86400)
        return at + timedelta(seconds=self.rng.uniform(0, max(limit, 1)))

    def _chunk(self, size):
        people = self._people(size)
        rows = self._relations(people)
        self._write(people, rows)

    def _people(self, size):
        """[(customer, [contact, ...])] with `size` contacts in all; each a dict of its model's fields."""
        rng = self.rng
        span = (self.now - self.start).total_seconds()
        people = []
        made = 0
        while made < size:
            self.person += 1
            index = self.person
            # Growth: more contacts joined recently (density rising over the 18 months).
            first_at = self.start + timedelta(seconds=span * rng.random() ** 0.6)
            roll = rng.random()
            is_member = roll < 0.28
            # Most bindings come with a website member; a few are by phone alone (WhatsApp pixel, cart
            # remarketing, coupon): bound customers who are not members, as seed 000's KPIs tell apart.
            bound = (is_member and rng.random() < 0.7) or roll >= 0.97
            count = 1
            if bound:
                count = min(_pick(rng, CONTACTS_PER_BOUND), size - made)
            person_kinds = []
            while len(person_kinds) < count:
                kind = _pick(rng, CHANNEL_KINDS)
                if kind not in person_kinds:
                    person_kinds.append(kind)
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            phone = _phone(index)
            customer = {
                "name": name,
                "phone": phone if is_member or bound else "",
                "email": f"member{index}@example.com" if is_member and rng.random() < 0.8 else "",
                "member_id": f"M{index:08d}" if is_member else None,
                "is_member": is_member,
                "is_bound": bound,
                "created_at": first_at,
                "member_since": None,
                "first_bound_at": None,
                "first_bound_method": "",
                "last_checkout_at": None,
                "points_balance": 0,
                "points_accumulated": 0,
            }
            contacts = []
            at = first_at
            for position, kind in enumerate(person_kinds):
                if position:
                    at = self._time_after(at, 120)
                contacts.append(self._contact(len(people), kind, at, phone, name))
            if is_member:
                customer["member_since"] = self._time_after(first_at, 60)
            people.append((customer, contacts))
            made += len(contacts)
        return people

    def _contact(self, person, kind, at, phone, name):
        rng = self.rng
        source = _pick(rng, SOURCES[kind])
        contact = {
            "kind": kind,
            "channel": self.channels[kind].pk,
            "customer": person,
            "external_id": _external_id(rng, kind, phone),
            "phone": phone if kind == ChannelKind.WHATSAPP else "",
            "display_name": name if kind != ChannelKind.WEB else "",
            "source": source,
            "status": SubscriptionStatus.SUBSCRIBED,
            "created_at": at,
            "subscribed_at": at,
            "status_changed_at": at,
            "unsubscribed_broadcast": False,
            "fb_recurring_optin": kind == ChannelKind.FACEBOOK and rng.random() < 0.12,
            "last_team_marketing_at": None,
            "last_team_interaction_at": None,
            "omo_staff": "",
            "omo_branch": "",
            "blocked_at": None,
            "refollowed_at": None,
            "unsubscribed_at": None,
        }
        roll = rng.random()
        if roll < 0.16:  # blocked; a third of them came back later
            contact["blocked_at"] = self._time_after(at, 200)
            contact["status"] = SubscriptionStatus.BLOCKED
            contact["status_changed_at"] = contact["blocked_at"]
            if rng.random() < 0.33:
                contact["refollowed_at"] = self._time_after(contact["blocked_at"], 120)
                contact["status"] = SubscriptionStatus.SUBSCRIBED
                contact["subscribed_at"] = contact["status_changed_at"] = contact["refollowed_at"]
        elif roll < 0.19:
            contact["unsubscribed_at"] = self._time_after(at, 200)
            contact["status"] = SubscriptionStatus.UNSUBSCRIBED
            contact["unsubscribed_broadcast"] = True
            contact["status_changed_at"] = contact["unsubscribed_at"]
        contact["last_customer_interaction_at"] = self._time_after(contact["status_changed_at"], 300)
        if rng.random() < 0.7:
            contact["last_team_marketing_at"] = self._time_after(at, 400)
        if rng.random() < 0.25:
            contact["last_team_interaction_at"] = self._time_after(contact["last_customer_interaction_at"], 3)
        if source == ContactSource.OMO_BINDING:
            contact["omo_staff"] = rng.choice(["王店長", "林小姐", "陳先生"])
            contact["omo_branch"] = rng.choice(["信義旗艦店", "台中公益店", "高雄夢時代店"])
        return contact

    def _relations(self, people):
        """The chunk's bindings, tags, attribute values, orders and timeline; completes the customers' own
        fields that follow from them (first binding, interaction times, checkout, points)."""
        rng, team = self.rng, self.team.pk
        bindings = Rows(
            Binding, "contact", "customer", "method", "member_id", "phone", "email", "bound_at", "created_at", team=team
        )
        tags = Rows(CustomerTag, "customer", "tag", "channel", "source", "applied_at", team=team)
        values = Rows(AttributeValue, "customer", "attribute", *VALUE_COLUMNS, "updated_at", team=team)
        orders = Rows(
            Order, "customer", "order_id", "amount", "currency", "items", "occurred_at", "created_at", team=team
        )
        events = Rows(
            CustomerEvent,
            "customer",
            "contact",
            "channel",
            "type",
            "occurred_at",
            "data",
            team=team,
            created_at=self.now,
        )
        ledger = Rows(
            PointsTransaction,
            "customer",
            "delta",
            "balance_after",
            "reason",
            "source",
            "occurred_at",
            team=team,
            idempotency_key="",
            created_at=self.now,
        )
        position = 0  # of the contact in the chunk, as written
        for person, (customer, contacts) in enumerate(people):
            for contact in contacts:
                event = {"customer": person, "contact": position, "channel": contact["channel"]}
                kind = contact["kind"]
                events.add(
                    **event,
                    type=EventType.CONTACT_CREATED,
                    occurred_at=contact["created_at"],
                    data={"source": contact["source"], "channel_kind": kind},
                )
                if contact["blocked_at"]:
                    events.add(**event, type=EventType.BLOCKED, occurred_at=contact["blocked_at"], data={})
                if contact["refollowed_at"]:
                    events.add(
                        **event,
                        type=EventType.SUBSCRIBED,
                        occurred_at=contact["refollowed_at"],
                        data={"reason": "follow"},
                    )
                if contact["unsubscribed_at"]:
                    events.add(
                        **event,
                        type=EventType.UNSUBSCRIBED,
                        occurred_at=contact["unsubscribed_at"],
                        data={"scope": "broadcast", "status_before": "subscribed"},
                    )
                if customer["is_bound"]:
                    method = BindingMethod.PIXEL if kind == ChannelKind.WHATSAPP and rng.random() < 0.5 else None
                    method = method or _pick(rng, METHODS if customer["is_member"] else PHONE_METHODS)
                    since = customer["member_since"] or contact["created_at"]
                    bound_at = self._time_after(max(contact["created_at"], since), 30)
                    bindings.add(
                        contact=position,
                        customer=person,
                        method=method,
                        member_id=customer["member_id"] or "",
                        phone=customer["phone"],
                        email=customer["email"],
                        bound_at=bound_at,
                        created_at=bound_at,
                    )
                    events.add(
                        **event,
                        type=EventType.BINDING,
                        occurred_at=bound_at,
                        data={"method": method, "member_id": customer["member_id"]},
                    )
                    if customer["first_bound_at"] is None or bound_at < customer["first_bound_at"]:
                        customer["first_bound_at"], customer["first_bound_method"] = bound_at, method
                position += 1
            for field in INTERACTIONS:
                times = [c[field] for c in contacts if c[field]]
                customer[field] = max(times) if times else None
            event = {"customer": person, "contact": None, "channel": None}
            if customer["is_member"]:
                events.add(
                    **event,
                    type=EventType.MEMBER_REGISTERED,
                    occurred_at=customer["member_since"],
                    data={"member_id": customer["member_id"]},
                )
                spent = 0
                for _ in range(_pick(rng, ORDERS_PER_MEMBER)):
                    at = self._time_after(customer["member_since"], 500)
                    items = [
                        {"name": name, "quantity": rng.randint(1, 3), "price": price}
                        for name, price in rng.sample(PRODUCTS, rng.randint(1, 3))
                    ]
                    amount = sum(i["quantity"] * i["price"] for i in items)
                    spent += amount
                    self.order_seq += 1
                    order_id = f"DEMO-{self.order_seq:08d}"
                    orders.add(
                        customer=person,
                        order_id=order_id,
                        amount=Decimal(amount),
                        currency="TWD",
                        items=items,
                        occurred_at=at,
                        created_at=at,
                    )
                    events.add(
                        **event,
                        type=EventType.CHECKOUT_COMPLETED,
                        occurred_at=at,
                        data={"order_id": order_id, "amount": str(amount), "currency": "TWD", "items": items},
                    )
                    customer["last_checkout_at"] = max(filter(None, [customer["last_checkout_at"], at]))
                    if amount // 100:  # the order rule: 1 point per NT$100, one ledger row per order
                        customer["points_accumulated"] += amount // 100
                        ledger.add(
                            customer=person,
                            delta=amount // 100,
                            balance_after=customer["points_accumulated"],
                            reason=order_id,
                            source=PointsSource.ORDER,
                            occurred_at=at,
                        )
                customer["points_balance"] = rng.randint(0, customer["points_accumulated"])
                if customer["points_balance"] < customer["points_accumulated"]:  # points redeemed since
                    ledger.add(
                        customer=person,
                        delta=customer["points_balance"] - customer["points_accumulated"],
                        balance_after=customer["points_balance"],
                        reason="點數兌換",
                        source=PointsSource.ADMIN,
                        occurred_at=self.now,
                    )
                self._values(values, person, customer["member_since"], spent)
            first = contacts[0]
            for tag in rng.sample(self.tags, _pick(rng, TAGS_PER_CUSTOMER)):
                at = self._time_after(first["created_at"], 365)
                tags.add(
                    customer=person,
                    tag=tag.pk,
                    channel=first["channel"],
                    source=rng.choice(["api", "journey", "keyword", "import"]),
                    applied_at=at,
                )
                events.add(**event, type=EventType.TAG_ADDED, occurred_at=at, data={"tag": tag.name, "tag_id": tag.pk})
        return [bindings, tags, values, orders, events, ledger]

    def _values(self, values, person, at, spent):
        """The member's attribute values (a birthday for 70 % of them), as of becoming a member."""
        rng = self.rng

        def add(key, column, value):
            row = dict.fromkeys(VALUE_COLUMNS)
            row[column] = value
            values.add(customer=person, attribute=self.attributes[key].pk, updated_at=at, **row)

        add("member_level", "text_value", LEVELS[min(3, int(spent // 3000))])
        add("total_spent", "number_value", Decimal(spent))
        add("newsletter", "bool_value", rng.random() < 0.6)
        if rng.random() < 0.7:
            birthday = datetime(rng.randint(1965, 2005), rng.randint(1, 12), rng.randint(1, 28), tzinfo=UTC)
            add("birthday", "datetime_value", birthday)
        add("last_login_at", "datetime_value", self._time_after(at, 500))

    def _write(self, people, rows):
        """Customers, then contacts, then their related rows; the RETURNING ids (in insertion order) replace the
        positions the related rows hold."""
        team = self.team.pk
        customers = [customer for customer, _contacts in people]
        returned = insert_rows(Customer, {"team": team, **_columns(customers, CUSTOMER_FIELDS)}, returning=("id",))
        customer_ids = [row[0] for row in returned]
        contacts = [contact for _customer, own in people for contact in own]
        columns = _columns(contacts, CONTACT_FIELDS)
        columns["customer"] = [customer_ids[i] for i in columns["customer"]]
        returned = insert_rows(Contact, {"team": team, "is_over_quota": self.over_quota, **columns}, returning=("id",))
        contact_ids = [row[0] for row in returned]
        for table in rows:
            table.write(customer_ids, contact_ids)


def _columns(rows, names):
    return {name: [row[name] for row in rows] for name in names}
