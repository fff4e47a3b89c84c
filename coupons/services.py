"""Coupon operations: saving a campaign (and its coupon card), codes (generate, import), claims, redemptions,
statistics and the claimed-codes export. Views, the API, the admin, tasks and the demo call these."""

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from cdp.events import record_event
from cdp.imports import files as csv_files
from cdp.models import Binding, BindingMethod, Contact, Customer, CustomerEvent, EventType, Order
from cdp.services import binding_links
from core.csv_lines import BOM, CsvLines
from core.errors import ServiceError
from messaging.models import SUCCESSFUL_STATUSES, ChatbotModule, ModuleType, OutboundMessage

from .models import Campaign, Claim, CodeMode, CouponCode

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: customers type these at checkout
CODE_LENGTH = 8
MAX_CODE = 64
MAX_GENERATE = 2_000_000
CHUNK = 5_000


# ------------------------------------------------------------------------------------------------ campaigns
def check_campaign(campaign):
    """Rules across fields (each field's own rules are the model's): ServiceError naming the field."""
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise ServiceError(_("結束時間必須晚於開始時間。"), field="ends_at", code="coupon_invalid")
    if campaign.code_mode == CodeMode.SHARED:
        code = (campaign.shared_code or "").strip()
        if not code:
            raise ServiceError(_("共用代碼模式需要輸入代碼。"), field="shared_code", code="coupon_invalid")
        _check_code(code, field_name="shared_code")
        campaign.shared_code = code


def _check_code(code, *, field_name="code"):
    if len(code) > MAX_CODE or any(ch.isspace() for ch in code) or not code.isprintable():
        raise ServiceError(
            _("優惠碼最多 %(n)s 個字元，不可含空白：%(code)s") % {"n": MAX_CODE, "code": code[:80]},
            field=field_name,
            code="coupon_invalid",
        )


@transaction.atomic
def save_campaign(campaign):
    """Save a campaign and keep its coupon card (a messaging chatbot module of type coupon_card) in step."""
    check_campaign(campaign)
    if campaign.pk and campaign.code_mode == CodeMode.SHARED:
        if CouponCode.objects.filter(campaign_id=campaign.pk).exists():
            raise ServiceError(_("已有專屬代碼的活動不可改為共用代碼。"), field="code_mode", code="coupon_invalid")
    campaign.save()
    content = {
        "title": campaign.name,
        "text": campaign.discount_text,
        "campaign": campaign.pk,
        "claim_label": campaign.claim_button_label,
    }
    if campaign.image_url:
        content["image_url"] = campaign.image_url
    module = campaign.module
    if module is None or module.deleted_at:
        module = ChatbotModule.objects.create(
            team_id=campaign.team_id,
            name=f"{_('優惠券')}：{campaign.name}"[:200],
            type=ModuleType.COUPON_CARD,
            content=content,
        )
        campaign.module = module
        Campaign.objects.filter(pk=campaign.pk).update(module=module)
    else:
        module.content, module.name = content, f"{_('優惠券')}：{campaign.name}"[:200]
        module.save(update_fields=["content", "name", "updated_at"])
    return campaign


def status(campaign, now=None):
    now = now or timezone.now()
    if campaign.archived_at:
        return "archived"
    if now < campaign.starts_at:
        return "scheduled"
    if now >= campaign.ends_at:
        return "ended"
    return "active"


# ---------------------------------------------------------------------------------------------------- codes
def _pool_room(campaign):
    """How many more unique codes the pool may hold (total quantity caps the pool), None when unlimited."""
    if campaign.total_quantity is None:
        return None
    return max(0, campaign.total_quantity - CouponCode.objects.filter(campaign=campaign).count())


def generate_codes(campaign, count, *, prefix=""):
    """Add `count` random unique codes to the pool (capped by the total quantity). Returns how many were added."""
    if campaign.code_mode != CodeMode.UNIQUE:
        raise ServiceError(_("共用代碼的活動沒有代碼池。"), field="count", code="coupon_invalid")
    if not isinstance(count, int) or count < 1 or count > MAX_GENERATE:
        raise ServiceError(
            _("數量必須是 1 到 %(n)s 的整數。") % {"n": MAX_GENERATE}, field="count", code="coupon_invalid"
        )
    prefix = (prefix or "").strip().upper()
    if prefix:
        _check_code(prefix + "X" * CODE_LENGTH, field_name="prefix")
    room = _pool_room(campaign)
    if room is not None:
        count = min(count, room)
    added = 0
    while added < count:
        n = min(CHUNK, count - added)
        codes = {prefix + "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH)) for _j in range(n)}
        with transaction.atomic():
            rows = CouponCode.objects.bulk_create(
                [CouponCode(team_id=campaign.team_id, campaign=campaign, code=c) for c in codes],
                ignore_conflicts=True,
            )
        added += len(rows)  # a collision (1 in 10^12 per pair) is simply generated again in the next round
        if not rows:
            break
    return added


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: list = field(default_factory=list)  # (row, code, note)
    errors: list = field(default_factory=list)  # (row, message)


def import_codes(campaign, fileobj):
    """Import unique codes from a CSV (column "code", or the first column) read as every import reads CSV.

    Every row is checked first; a bad row is reported (row number, message) and not written; a code already in
    the pool or earlier in the file is reported as a duplicate and not added again. The good rows are written
    together. Returns an ImportReport; raises ServiceError (not CSV, not UTF-8, empty) before writing anything."""
    if campaign.code_mode != CodeMode.UNIQUE:
        raise ServiceError(_("共用代碼的活動沒有代碼池。"), field="file", code="coupon_invalid")
    reader, headers, _dialect = csv_files.open_csv(fileobj)
    lowered = [h.lower() for h in headers]
    column = lowered.index("code") if "code" in lowered else (lowered.index("優惠碼") if "優惠碼" in lowered else 0)
    report, seen, good = ImportReport(), {}, []
    if column == 0 and lowered[0] not in ("code", "優惠碼"):  # no header row: the first row is a code too
        first = headers[0].strip()
        rows = [(1, [first])] if first else []
    else:
        rows = []
    rows = list(rows) + list(csv_files.rows(reader))
    for number, cells in rows:
        code = cells[column].strip() if column < len(cells) else ""
        if not code:
            report.errors.append((number, _("優惠碼是空的。")))
            continue
        try:
            _check_code(code)
        except ServiceError as exc:
            report.errors.append((number, exc.messages[0]))
            continue
        if code in seen:
            report.duplicates.append((number, code, _("與第 %(row)s 列重複") % {"row": seen[code]}))
            continue
        seen[code] = number
        good.append((number, code))
    existing = set()
    for start in range(0, len(good), CHUNK):
        chunk = [code for _n, code in good[start : start + CHUNK]]
        existing |= set(CouponCode.objects.filter(campaign=campaign, code__in=chunk).values_list("code", flat=True))
    fresh = []
    for number, code in good:
        if code in existing:
            report.duplicates.append((number, code, _("已在代碼池中")))
        else:
            fresh.append((number, code))
    room = _pool_room(campaign)
    if room is not None and len(fresh) > room:
        for number, _code in fresh[room:]:
            report.errors.append((number, _("超過發放總數（%(n)s）。") % {"n": campaign.total_quantity}))
        fresh = fresh[:room]
    with transaction.atomic():
        for start in range(0, len(fresh), CHUNK):
            created = CouponCode.objects.bulk_create(
                [
                    CouponCode(team_id=campaign.team_id, campaign=campaign, code=code)
                    for _n, code in fresh[start : start + CHUNK]
                ],
                ignore_conflicts=True,  # a concurrent import of the same code: one row, never two
            )
            report.imported += len(created)
    report.duplicates.sort()
    report.errors.sort()
    return report


# --------------------------------------------------------------------------------------------------- claims
@dataclass
class ClaimResult:
    status: str  # claimed | existing | not_started | ended | exhausted | limit | archived
    claim: Claim | None = None
    claims: list = field(default_factory=list)  # the customer's claims of the campaign, oldest first


def claim(campaign, contact, *, another=False, now=None):
    """Give the contact's customer a code of the campaign, or show the one they have (idempotent per customer and
    campaign: opening the claim page again shows the same code; `another` asks for one more, up to the limit).

    Nothing is assigned when the campaign has not started, has ended, the pool is exhausted or the customer holds
    the limit. A unique code is taken from the pool with SKIP LOCKED: two concurrent claims never get one code."""
    now = now or timezone.now()
    for _attempt in range(3):
        try:
            return _claim(campaign, contact, another=another, now=now)
        except IntegrityError:  # the same customer claimed concurrently: read what they now hold
            continue
    return _claim(campaign, contact, another=False, now=now)


def _claims_of(campaign, customer_id):
    return list(
        Claim.objects.filter(team_id=campaign.team_id, campaign=campaign, customer_id=customer_id).order_by("number")
    )


@transaction.atomic
def _claim(campaign, contact, *, another, now):
    customer_id = Contact.objects.filter(pk=contact.pk).values_list("customer_id", flat=True).get()
    held = _claims_of(campaign, customer_id)
    if held and not another:
        return ClaimResult("existing", held[-1], held)
    if len(held) >= campaign.per_customer_limit:
        return ClaimResult("limit", held[-1] if held else None, held)
    state = status(campaign, now)
    if state != "active":
        return ClaimResult({"scheduled": "not_started"}.get(state, state), None, held)
    pool_code = None
    if campaign.code_mode == CodeMode.UNIQUE:
        pool_code = (
            CouponCode.objects.select_for_update(skip_locked=True)
            .filter(team_id=campaign.team_id, campaign=campaign, claimed_at__isnull=True)
            .order_by("id")
            .only("id", "code")
            .first()
        )
        if pool_code is None:
            return ClaimResult("exhausted", None, held)
        CouponCode.objects.filter(pk=pool_code.pk).update(claimed_at=now)
        code = pool_code.code
    else:
        if campaign.total_quantity is not None:
            # Shared code: the campaign row is the counter's lock (a shared code has no pool to lock).
            Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk").get()
            if Claim.objects.filter(campaign=campaign).count() >= campaign.total_quantity:
                return ClaimResult("exhausted", None, held)
        code = campaign.shared_code
    with transaction.atomic():  # a concurrent claim of the same customer raises here; the caller retries
        new = Claim.objects.create(
            team_id=campaign.team_id,
            campaign=campaign,
            customer_id=customer_id,
            contact_id=contact.pk,
            number=len(held) + 1,
            code=code,
            pool_code=pool_code,
            claimed_at=now,
        )
    record_event(
        team_id=campaign.team_id,
        customer_id=customer_id,
        contact_id=contact.pk,
        channel_id=contact.channel_id,
        type=EventType.COUPON_CLAIMED,
        occurred_at=now,
        data={"campaign": campaign.pk, "campaign_name": campaign.name, "code": code},
    )
    return ClaimResult("claimed", new, [*held, new])


# ---------------------------------------------------------------------------------------------- redemptions
def redeem_from_events(team, event_ids):
    """Mark claims redeemed from timeline events: coupon.redeemed (data.code) and checkout.completed carrying
    data.coupon_code. A unique code names its claim whoever posts it; a shared code counts for the posting
    customer's own claim (or the claim of a customer merged into them). Idempotent: a claim is redeemed once,
    by its first redemption. Returns how many claims were marked."""
    events = (
        CustomerEvent.objects.for_team(team)
        .filter(pk__in=list(event_ids), type__in=[EventType.COUPON_REDEEMED, EventType.CHECKOUT_COMPLETED])
        .only("id", "customer_id", "type", "data", "occurred_at")
        .order_by("occurred_at", "id")
    )
    marked = 0
    for event in events:
        data = event.data or {}
        code = str(data.get("code") or data.get("coupon_code") or "").strip()
        if not code:
            continue
        customers = {event.customer_id} | set(
            Customer.objects.for_team(team).filter(merged_into_id=event.customer_id).values_list("pk", flat=True)
        )
        open_claims = Claim.objects.for_team(team).filter(code=code, redeemed_at__isnull=True)
        target = (
            open_claims.filter(customer_id__in=customers).order_by("claimed_at", "id").first()
            or open_claims.filter(pool_code__isnull=False).order_by("claimed_at", "id").first()
        )
        if target is None:
            continue
        marked += Claim.objects.filter(pk=target.pk, redeemed_at__isnull=True).update(
            redeemed_at=event.occurred_at, order_id=str(data.get("order_id") or "")[:128]
        )
    return marked


# ---------------------------------------------------------------------------------------------- statistics
def _rate(part, whole):
    return round(part * 100 / whole, 2) if whole else None


def statistics(campaign):
    """Seed 003's rule: rates divide by successful sends of the campaign's card; claims, redemptions and
    bindings count once per customer. Revenue: the orders named by redemptions, per currency."""
    team_id = campaign.team_id
    sent = 0
    if campaign.module_id:
        sent = OutboundMessage.objects.filter(
            team_id=team_id,
            content__type="module",
            content__module_id=campaign.module_id,
            status__in=SUCCESSFUL_STATUSES,
        ).count()
    claims = Claim.objects.filter(team_id=team_id, campaign=campaign)
    counts = claims.aggregate(
        claimed=Count("customer", distinct=True),
        codes=Count("id"),
        redeemed=Count("customer", distinct=True, filter=Q(redeemed_at__isnull=False)),
    )
    customer_ids = claims.values("customer_id")
    bindings = (
        Binding.objects.filter(team_id=team_id, method=BindingMethod.COUPON, customer_id__in=customer_ids)
        .values("customer_id")
        .distinct()
        .count()
    )
    order_ids = claims.filter(redeemed_at__isnull=False).exclude(order_id="").values("order_id")
    revenue = {
        row["currency"]: str(Decimal(row["total"]).quantize(Decimal("0.01")))
        for row in Order.objects.filter(team_id=team_id, order_id__in=order_ids)
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    }
    return {
        "sent": sent,
        "claimed": counts["claimed"],
        "claimed_codes": counts["codes"],
        "claim_rate": _rate(counts["claimed"], sent),
        "redeemed": counts["redeemed"],
        "redemption_rate": _rate(counts["redeemed"], sent),
        "bindings": bindings,
        "revenue": revenue,
    }


CSV_HEADER = ["code", "customer_id", "contact_id", "channel", "external_id", "claimed_at", "redeemed_at", "order_id"]


def claimed_codes_lines(campaign):
    """The claimed-codes list as CSV lines (UTF-8 BOM, formula-safe), oldest claim first, streamed."""
    zone = campaign.team.zone
    lines = CsvLines()
    yield BOM + lines.row(CSV_HEADER)
    rows = (
        Claim.objects.filter(team_id=campaign.team_id, campaign=campaign)
        .select_related("contact__channel")
        .order_by("claimed_at", "id")
    )
    for c in rows.iterator(chunk_size=2000):
        yield lines.row(
            [
                c.code,
                c.customer_id,
                c.contact_id or "",
                c.contact.channel.kind if c.contact else "",
                c.contact.external_id if c.contact else "",
                timezone.localtime(c.claimed_at, zone).isoformat(),
                timezone.localtime(c.redeemed_at, zone).isoformat() if c.redeemed_at else "",
                c.order_id,
            ]
        )


def sent_by_campaign(team, campaigns):
    """{campaign id: successful sends} for a list page."""
    module_to_campaign = {c.module_id: c.pk for c in campaigns if c.module_id}
    result = defaultdict(int)
    if not module_to_campaign:
        return result
    rows = (
        OutboundMessage.objects.for_team(team)
        .filter(content__type="module", content__module_id__in=list(module_to_campaign), status__in=SUCCESSFUL_STATUSES)
        .values_list("content__module_id")
        .annotate(n=Count("id"))
    )
    for module_id, n in rows:
        result[module_to_campaign.get(module_id)] = n
    return result


def claims_total(campaign):
    return Claim.objects.filter(team_id=campaign.team_id, campaign=campaign).count()


def revenue_total(stats):
    return sum((Decimal(v) for v in stats["revenue"].values()), Decimal(0))


def redeem_link(campaign, contact, claim_row):
    """The redeem button: the brand's website with the code (`coupon`) and a binding link token, method coupon."""
    url = binding_links.add_token(campaign.redeem_url, binding_links.make_token(contact, BindingMethod.COUPON))
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "coupon"]
    query.insert(0, ("coupon", claim_row.code))
    return urlunsplit(parts._replace(query=urlencode(query)))
