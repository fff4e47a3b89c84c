"""CSV export (seed 001 §7): the filtered customers' channel contacts, streamed, UTF-8 with a BOM for Excel.

One row per contact, with its LINE UID / Facebook PSID / Instagram IGSID / WhatsApp number in their own columns
and the chosen customer fields. Rows are read with iterator(chunk_size=...) and tags / attribute values are
fetched once per chunk, so memory stays flat at a million contacts.
"""

from collections import defaultdict

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.csv_lines import BOM, CsvLines

from .models import (
    AttributeValue,
    ChannelKind,
    Contact,
    ContactSource,
    CustomAttribute,
    CustomerTag,
    SubscriptionStatus,
)
from .presenters import display_value

CHUNK = 2000

FIELD_CHOICES = [
    ("member_id", gettext_lazy("會員編號")),
    ("name", gettext_lazy("姓名")),
    ("phone", gettext_lazy("電話")),
    ("email", "Email"),
    ("status", gettext_lazy("訂閱狀態")),
    ("source", gettext_lazy("新聯絡人來源")),
    ("created_at", gettext_lazy("建立時間")),
    ("subscribed_at", gettext_lazy("加入訂閱時間")),
    ("last_customer_interaction_at", gettext_lazy("客人最後互動時間")),
    ("last_team_marketing_at", gettext_lazy("團隊最後行銷時間")),
    ("last_team_interaction_at", gettext_lazy("團隊最後互動時間")),
    ("is_bound", gettext_lazy("社群身份綁定")),
    ("is_member", gettext_lazy("官網會員")),
    ("points_balance", gettext_lazy("點數餘額")),
    ("tags", gettext_lazy("標籤")),
]
DEFAULT_FIELDS = ["member_id", "name", "phone", "email", "status", "tags"]
ID_COLUMNS = [
    (ChannelKind.LINE, gettext_lazy("LINE UID")),
    (ChannelKind.FACEBOOK, gettext_lazy("Facebook PSID")),
    (ChannelKind.INSTAGRAM, gettext_lazy("Instagram IGSID")),
    (ChannelKind.WHATSAPP, gettext_lazy("WhatsApp 電話號碼")),
]
CONTACT_FIELDS = {"status", "source", "created_at", "subscribed_at"} | {
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
}
CUSTOMER_FIELDS = {"member_id", "name", "phone", "email", "is_bound", "is_member", "points_balance"}


def export_csv(team, customers, fields):
    """A generator of CSV lines for StreamingHttpResponse. Labels are translated now, in the request's language."""
    fields = [f for f in fields if f in dict(FIELD_CHOICES) or f.startswith("attr:")]
    attributes = {
        a.key: a
        for a in CustomAttribute.objects.for_team(team).filter(key__in=[f[5:] for f in fields if f[:5] == "attr:"])
    }
    fields = [f for f in fields if not f.startswith("attr:") or f[5:] in attributes]
    labels = dict(FIELD_CHOICES)
    header = [_("顧客 ID"), _("渠道"), _("渠道名稱")] + [str(label) for _kind, label in ID_COLUMNS] + [_("其他渠道 ID")]
    header += [attributes[f[5:]].label if f.startswith("attr:") else str(labels[f]) for f in fields]
    yes, no = _("是"), _("否")
    statuses = {s.value: str(s.label) for s in SubscriptionStatus}
    sources = {s.value: str(s.label) for s in ContactSource}
    zone = team.zone

    columns = ["id", "customer_id", "channel__kind", "channel__name", "external_id", "phone"]
    columns += [f for f in fields if f in CONTACT_FIELDS]
    columns += [f"customer__{f}" for f in fields if f in CUSTOMER_FIELDS]
    contacts = (
        Contact.objects.for_team(team).filter(customer_id__in=customers.values("pk")).order_by("id").values(*columns)
    )

    def cell(field, row, tags, values):
        if field == "tags":
            return ", ".join(tags.get(row["customer_id"], []))
        if field.startswith("attr:"):
            return values.get((row["customer_id"], field[5:]), "")
        value = row[field] if field in CONTACT_FIELDS else row[f"customer__{field}"]
        if field == "status":
            return statuses.get(value, value)
        if field == "source":
            return sources.get(value, value)
        if isinstance(value, bool):
            return yes if value else no
        if hasattr(value, "astimezone"):
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        return "" if value is None else value

    def lines():
        yield BOM + CsvLines().row(header)
        batch = []
        for row in contacts.iterator(chunk_size=CHUNK):
            batch.append(row)
            if len(batch) >= CHUNK:
                yield "".join(_render(batch))
                batch = []
        if batch:
            yield "".join(_render(batch))

    def _render(batch):
        lines = CsvLines()
        customer_ids = {row["customer_id"] for row in batch}
        tags = _tags(team, customer_ids) if "tags" in fields else {}
        values = _values(team, customer_ids, attributes.values()) if attributes else {}
        for row in batch:
            kind = row["channel__kind"]
            ids = [row["external_id"] if kind == k else "" for k, _label in ID_COLUMNS]
            if kind == ChannelKind.WHATSAPP:
                ids[3] = row["phone"] or row["external_id"]
            other = "" if kind in dict(ID_COLUMNS) else row["external_id"]
            out = [row["customer_id"], kind, row["channel__name"], *ids, other]
            out += [cell(f, row, tags, values) for f in fields]
            yield lines.row(out)

    return lines()


def _tags(team, customer_ids):
    found = defaultdict(list)
    rows = (
        CustomerTag.objects.for_team(team)
        .filter(customer_id__in=customer_ids)
        .order_by("tag__name")
        .values_list("customer_id", "tag__name")
    )
    for customer_id, name in rows:
        found[customer_id].append(name)
    return found


def _values(team, customer_ids, attributes):
    rows = (
        AttributeValue.objects.for_team(team)
        .filter(customer_id__in=customer_ids, attribute__in=list(attributes))
        .select_related("attribute")
    )
    return {(v.customer_id, v.attribute.key): display_value(v) for v in rows}
