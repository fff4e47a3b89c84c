"""OmniLink operations: campaigns, the first click, the code's arrival on the target channel, the timeout sweep,
statistics and participant lists. Views, the API, the public link view, the webhook hook and tasks call these.

Outcomes (seed 004's seven failure reasons, FailureReason):
- at the first click: the campaign disabled (campaign_disabled), the contact the link names gone
  (source_contact_not_found), the target channel lacking what its deep link needs (link_unavailable);
  otherwise the participant is pending with a one-time code and the customer is sent to the deep link;
- when the code arrives on the target channel (inside webhook processing, omnilink.matching): after the deadline
  (not_completed), the source contact gone since (source_contact_not_found), the target contact gone
  (target_contact_not_found), different member ids (member_id_conflict), an unexpected error (server_error, logged
  with a reference); otherwise the target contact is bound to the source contact's customer (identity service,
  method omnilink) and the participant is a success;
- the sweep fails every participant still pending after its deadline (not_completed).
A code on another channel than the campaign's target, or a code sent again, changes nothing.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cdp.models import BindingMethod, Channel, Contact
from cdp.services.identity import bind_to_contact
from core.csv_lines import BOM, CsvLines
from core.errors import ServiceError
from messaging.models import ChatbotModule, ModuleType, Origin
from messaging.services import outbox
from messaging.services.content import validate_module_content

from . import links, rollup
from .models import CAMPAIGN_CHANNEL_KINDS, Campaign, FailureReason, Participant, ParticipantStatus

logger = logging.getLogger(__name__)

MAX_RANGE_DAYS = 90
MAX_COMPLETION_HOURS = 24 * 30


class CampaignError(ServiceError):
    default_code = "omnilink_invalid"


# ------------------------------------------------------------------------------------------------ campaigns
CARD_KEYS = ("image_url", "title", "text", "button_label")


def _channel(team, value, field):
    channel = value if isinstance(value, Channel) else Channel.objects.for_team(team).filter(pk=value).first()
    if channel is None or channel.team_id != team.pk:
        raise CampaignError(_("請選擇渠道。"), field=field)
    if channel.kind not in CAMPAIGN_CHANNEL_KINDS:
        raise CampaignError(_("渠道必須是 LINE、Messenger、Instagram 或 WhatsApp。"), field=field)
    return channel


def save_campaign(
    *,
    team,
    campaign=None,
    name,
    source_channel,
    target_channel,
    card,
    integration_message,
    confirmation_message="",
    is_enabled=True,
    ends_at=None,
    completion_hours=24,
):
    """Create or update a campaign and its card module (type omnilink_card). Raises CampaignError / a
    ValidationError keyed by the card's field ("content.image_url")."""
    name = str(name or "").strip()
    if not name:
        raise CampaignError(_("請輸入活動名稱。"), field="name")
    source = _channel(team, source_channel, "source_channel")
    target = _channel(team, target_channel, "target_channel")
    if source.kind == target.kind:
        raise CampaignError(_("來源渠道與目標渠道必須不同。"), field="target_channel")
    integration_message = str(integration_message or "").strip()
    if not integration_message:
        raise CampaignError(_("請輸入整合訊息。"), field="integration_message")
    try:
        completion_hours = int(completion_hours)
    except (TypeError, ValueError):
        completion_hours = 0
    if not 1 <= completion_hours <= MAX_COMPLETION_HOURS:
        raise CampaignError(
            _("完成整合時限必須介於 1 到 %(n)s 小時。") % {"n": MAX_COMPLETION_HOURS}, field="completion_hours"
        )
    card = {key: (card or {}).get(key) or "" for key in CARD_KEYS}
    with transaction.atomic():
        campaign = campaign or Campaign(team=team)
        campaign.name, campaign.source_channel, campaign.target_channel = name, source, target
        campaign.integration_message = integration_message
        campaign.confirmation_message = str(confirmation_message or "").strip()
        campaign.is_enabled, campaign.ends_at, campaign.completion_hours = bool(is_enabled), ends_at, completion_hours
        campaign.save()
        content = {"campaign_id": campaign.pk, **card}
        validate_module_content(ModuleType.OMNILINK_CARD, content)
        module = campaign.card_module or ChatbotModule(team=team, type=ModuleType.OMNILINK_CARD)
        module.name, module.content = f"OmniLink · {name}"[:200], content
        module.save()
        if campaign.card_module_id != module.pk:
            campaign.card_module = module
            campaign.save(update_fields=["card_module"])
    return campaign


def set_enabled(campaign, enabled):
    Campaign.objects.filter(pk=campaign.pk, team_id=campaign.team_id).update(
        is_enabled=bool(enabled), updated_at=timezone.now()
    )
    campaign.is_enabled = bool(enabled)
    return campaign


def copy_campaign(campaign):
    """A new, disabled campaign with the same settings and card (its own module)."""
    return save_campaign(
        team=campaign.team,
        name=_("%(name)s（複本）") % {"name": campaign.name},
        source_channel=campaign.source_channel,
        target_channel=campaign.target_channel,
        card=campaign.card,
        integration_message=campaign.integration_message,
        confirmation_message=campaign.confirmation_message,
        is_enabled=False,
        ends_at=campaign.ends_at,
        completion_hours=campaign.completion_hours,
    )


# -------------------------------------------------------------------------------------------- the first click
@dataclass
class ClickOutcome:
    """What the public link view shows: a redirect to `url`, or a page (`state`: invalid, ended, pending, success,
    failure) with the deep link / reason."""

    state: str
    url: str = ""
    participant: Participant | None = None
    campaign: Campaign | None = None
    text: str = ""


def click(token, *, now=None):
    """The card's link was opened. The first click of (campaign, contact) makes the participant (idempotent under
    concurrent taps: the unique constraint decides, the loser reads the winner's row); later clicks change nothing.
    A forged token, an unknown campaign, another team's contact or an ended campaign record nothing."""
    now = now or timezone.now()
    parsed = links.parse_token(token)
    if parsed is None:
        return ClickOutcome("invalid")
    campaign_id, contact_id = parsed
    campaign = Campaign.objects.select_related("target_channel", "team").filter(pk=campaign_id).first()
    if campaign is None:
        return ClickOutcome("invalid")
    contact = Contact.objects.filter(pk=contact_id).only("id", "team_id").first()
    if contact is not None and contact.team_id != campaign.team_id:
        return ClickOutcome("invalid")
    existing = Participant.objects.filter(
        team_id=campaign.team_id, campaign=campaign, source_contact_ref=contact_id
    ).first()
    if existing is not None:
        return _outcome(campaign, existing, now)
    if campaign.has_ended(now):
        return ClickOutcome("ended", campaign=campaign)
    reason, code = "", ""
    if not campaign.is_enabled:
        reason = FailureReason.CAMPAIGN_DISABLED
    elif contact is None:
        reason = FailureReason.SOURCE_CONTACT_NOT_FOUND
    else:
        code = links.new_code()
        try:
            links.deep_link(campaign, code)
        except links.LinkUnavailable as exc:
            logger.info("omnilink campaign %s: no link (%s)", campaign.pk, exc)
            reason, code = FailureReason.LINK_UNAVAILABLE, ""
    participant = _create_participant(campaign, contact_id, contact, reason, code, now)
    return _outcome(campaign, participant, now)


def _create_participant(campaign, contact_id, contact, reason, code, now):
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return Participant.objects.create(  # with its DailyCount delta (Participant.save)
                    team=campaign.team,
                    campaign=campaign,
                    source_contact_ref=contact_id,
                    source_contact=contact,
                    status=ParticipantStatus.FAILURE if reason else ParticipantStatus.PENDING,
                    reason=reason,
                    code=code,
                    first_clicked_at=now,
                    deadline_at=now + timedelta(hours=campaign.completion_hours),
                    completed_at=now if reason else None,
                )
        except IntegrityError:
            existing = Participant.objects.filter(
                team_id=campaign.team_id, campaign=campaign, source_contact_ref=contact_id
            ).first()
            if existing is not None:  # a concurrent tap made it first
                return existing
            code = links.new_code() if code else code  # a code collision (40 bits): draw again
    raise IntegrityError("could not make an OmniLink participant")


def _outcome(campaign, participant, now):
    if participant.status == ParticipantStatus.SUCCESS:
        return ClickOutcome("success", participant=participant, campaign=campaign)
    if participant.status == ParticipantStatus.FAILURE:
        return ClickOutcome("failure", participant=participant, campaign=campaign)
    if now >= participant.deadline_at:
        return ClickOutcome("expired", participant=participant, campaign=campaign)
    try:
        url = links.deep_link(campaign, participant.code)
    except links.LinkUnavailable:
        return ClickOutcome("failure", participant=participant, campaign=campaign)
    text = links.integration_text(campaign, participant.code)
    return ClickOutcome("pending", url=url, participant=participant, campaign=campaign, text=text)


def record_server_error(token, *, now=None):
    """The click failed unexpectedly: log it with a reference and, when the link is genuine and no participant
    exists yet, record the failure (伺服器錯誤). Returns the reference shown to the customer."""
    ref = uuid.uuid4().hex[:12]
    logger.exception("omnilink click failed, reference %s", ref)
    parsed = links.parse_token(token)
    if parsed is None:
        return ref
    campaign_id, contact_id = parsed
    try:
        with transaction.atomic():
            campaign = Campaign.objects.filter(pk=campaign_id).first()
            if campaign is not None and Contact.objects.filter(pk=contact_id, team_id=campaign.team_id).exists():
                now = now or timezone.now()
                Participant.objects.get_or_create(
                    team_id=campaign.team_id,
                    campaign=campaign,
                    source_contact_ref=contact_id,
                    defaults={
                        "source_contact_id": contact_id,
                        "status": ParticipantStatus.FAILURE,
                        "reason": FailureReason.SERVER_ERROR,
                        "error_ref": ref,
                        "first_clicked_at": now,
                        "deadline_at": now,
                        "completed_at": now,
                    },
                )
    except Exception:  # noqa: BLE001 - the customer still gets the page with the reference; this is logged
        logger.exception("omnilink: recording server error %s failed", ref)
    return ref


# ------------------------------------------------------------------------------------ the code on the target
def complete(*, channel, contact, code, at):
    """The code arrived on `channel` from `contact` (inside webhook processing, in its transaction). Returns True
    when the code was a participant's (the message is then OmniLink's, not a keyword's)."""
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("campaign__team", "source_contact")
        .filter(team_id=channel.team_id, code=code)
        .first()
    )
    if participant is None:
        return False
    campaign = participant.campaign
    if channel.pk != campaign.target_channel_id:
        logger.info(
            "omnilink code %s arrived on channel %s, not the target %s", code, channel.pk, campaign.target_channel_id
        )
        return False
    if participant.status != ParticipantStatus.PENDING:
        return True  # sent twice: bound once
    if at > participant.deadline_at:
        _fail(participant, FailureReason.NOT_COMPLETED, at, target=contact)
        return True
    source = participant.source_contact
    if source is None:
        _fail(participant, FailureReason.SOURCE_CONTACT_NOT_FOUND, at, target=contact)
        return True
    if contact is None or not Contact.objects.filter(pk=contact.pk).exists():
        _fail(participant, FailureReason.TARGET_CONTACT_NOT_FOUND, at)
        return True
    try:
        with transaction.atomic():
            result = bind_to_contact(contact=contact, source=source, method=BindingMethod.OMNILINK, occurred_at=at)
    except Contact.DoesNotExist:
        gone = not Contact.objects.filter(pk=source.pk).exists()
        reason = FailureReason.SOURCE_CONTACT_NOT_FOUND if gone else FailureReason.TARGET_CONTACT_NOT_FOUND
        _fail(participant, reason, at, target=contact)
        return True
    except Exception:  # noqa: BLE001 - 伺服器錯誤: recorded with a reference, the webhook event still processed
        ref = uuid.uuid4().hex[:12]
        logger.exception("omnilink binding failed for participant %s, reference %s", participant.pk, ref)
        _fail(participant, FailureReason.SERVER_ERROR, at, target=contact, error_ref=ref)
        return True
    if result.status == "member_id_conflict":
        _fail(participant, FailureReason.MEMBER_ID_CONFLICT, at, target=contact)
        return True
    # Never in the team before this campaign brought it (platform times have whole seconds).
    is_new = contact.created_at >= participant.first_clicked_at.replace(microsecond=0)
    with transaction.atomic():  # the row is locked above and pending: the rollup's delta is exact
        Participant.objects.filter(pk=participant.pk).update(
            status=ParticipantStatus.SUCCESS,
            target_contact=contact,
            customer=result.customer,
            completed_at=at,
            target_is_new=is_new,
        )
        rollup.record_change(
            participant,
            campaign.team,
            (ParticipantStatus.PENDING, "", participant.target_is_new),
            (ParticipantStatus.SUCCESS, "", is_new),
        )
    if campaign.confirmation_message:
        outbox.enqueue(
            team=campaign.team,
            channel=channel,
            contact=contact,
            content={"type": "text", "text": campaign.confirmation_message},
            origin=Origin.OMNILINK,
            origin_id=campaign.pk,
            idempotency_key=f"omnilink:{participant.pk}",
        )
    return True


def _fail(participant, reason, at, *, target=None, error_ref=""):
    """A pending participant fails; its rollup delta is written only when this UPDATE changed the row."""
    target_id = target.pk if target is not None and target.pk else None
    with transaction.atomic():
        changed = Participant.objects.filter(pk=participant.pk, status=ParticipantStatus.PENDING).update(
            status=ParticipantStatus.FAILURE,
            reason=reason,
            completed_at=at,
            target_contact_id=target_id,
            error_ref=error_ref,
        )
        if changed:
            rollup.record_change(
                participant,
                participant.campaign.team,
                (ParticipantStatus.PENDING, "", participant.target_is_new),
                (ParticipantStatus.FAILURE, reason, participant.target_is_new),
            )


def sweep_timeouts(*, now=None, batch_size=5000):
    """Fail every participant still pending after its deadline (因顧客未送出整合訊息或未安裝目標渠道 APP 失敗).
    One UPDATE ... RETURNING per batch, with the rollup delta of exactly the rows it changed in its transaction;
    on PostgreSQL a participant whose code is being matched at this moment is locked, skipped, and wins."""
    now = now or timezone.now()
    table = Participant._meta.db_table
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET status = %s, reason = %s, completed_at = deadline_at WHERE status = %s AND id IN"
        f" (SELECT id FROM {table} WHERE status = %s AND deadline_at <= %s LIMIT %s{skip_locked}) RETURNING id"
    )
    pending, failure = ParticipantStatus.PENDING, ParticipantStatus.FAILURE
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                params = [failure, FailureReason.NOT_COMPLETED, pending, pending]
                cursor.execute(sql, [*params, connection.ops.adapt_datetimefield_value(now), batch_size])
                ids = [row[0] for row in cursor.fetchall()]
            # The columns the delta needs never change after the insert: read them back for the rows changed.
            rows = Participant.objects.filter(pk__in=ids).values_list("team_id", "campaign_id", "first_clicked_at")
            rollup.record_swept(list(rows), (pending, "", False), (failure, FailureReason.NOT_COMPLETED, False))
        total += len(ids)
        if len(ids) < batch_size:
            return total


# ------------------------------------------------------------------------------------- ranges, stats, lists
def parse_range(team, start=None, end=None):
    """(start date, end date) in the team's zone from 'YYYY-MM-DD' strings, or (None, None) when neither is given.
    Both or none; end not before start; at most 90 days. Raises CampaignError."""
    start, end = (str(v).strip() if v else "" for v in (start, end))
    if not start and not end:
        return None, None
    if not start or not end:
        raise CampaignError(
            _("請同時設定開始與結束日期。"), field="start" if not start else "end", code="invalid_range"
        )
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise CampaignError(_("日期格式應為 YYYY-MM-DD。"), field="start", code="invalid_range")
    if last < first:
        raise CampaignError(_("結束日期不可早於開始日期。"), field="end", code="invalid_range")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise CampaignError(
            _("時間區間最長可以設定 %(n)s 天。") % {"n": MAX_RANGE_DAYS}, field="end", code="range_too_long"
        )
    return first, last


def _bounds(team, first, last):
    zone = team.zone
    return (
        datetime.combine(first, time.min, tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
    )


def participants_in_range(campaign, first=None, last=None):
    qs = Participant.objects.for_team(campaign.team).filter(campaign=campaign)
    if first is not None:
        low, high = _bounds(campaign.team, first, last)
        qs = qs.filter(first_clicked_at__gte=low, first_clicked_at__lt=high)
    return qs


def statistics(campaign, first=None, last=None):
    """The seed's table: 總參與人數 (first clicks) = 成功 + 失敗 (+ pending, shown apart until the sweep decides),
    目標渠道 - 新聯絡人, failures by reason, and per-day participants / successes / failures (by first click).
    Read from the daily rollup (omnilink.rollup, which defines each figure): a few rows per day, not a scan of the
    campaign's participants."""
    rows = rollup.daily(campaign, first, last)
    totals = {column: sum(row[column] for row in rows) for column in rollup.FIELDS}
    reasons = [{"reason": code, "label": str(label), "count": totals[code]} for code, label in FailureReason.choices]
    days = {
        row["day"]: {key: row[key] for key in ("day", "participants", "successes", "failures")}
        for row in rows
        if row["participants"]
    }
    return {
        "campaign_id": campaign.pk,
        "source_channel": _channel_info(campaign.source_channel),
        "target_channel": _channel_info(campaign.target_channel),
        "start": first,
        "end": last,
        "participants": totals["participants"],
        "new_contacts": totals["new_contacts"],
        "successes": totals["successes"],
        "failures": totals["failures"],
        "pending": totals["pending"],
        "failure_reasons": reasons,
        "days": _fill_days(days, first, last),
    }


def _fill_days(days, first, last):
    if first is None:
        return [days[d] for d in sorted(days)]
    out, day = [], first
    while day <= last:
        out.append(days.get(day, {"day": day, "participants": 0, "successes": 0, "failures": 0}))
        day += timedelta(days=1)
    return out


def _channel_info(channel):
    return {"id": channel.pk, "kind": channel.kind, "name": channel.name}


def campaign_figures(team, campaign_ids):
    """{campaign id: {participants, success, failure, pending}} for the campaign list, from the daily rollup."""
    figures = {pk: {"participants": 0, **dict.fromkeys(ParticipantStatus.values, 0)} for pk in campaign_ids}
    for pk, sums in rollup.campaign_totals(team, campaign_ids).items():
        figures[pk] = {
            "participants": sums["participants"],
            ParticipantStatus.SUCCESS.value: sums["successes"],
            ParticipantStatus.FAILURE.value: sums["failures"],
            ParticipantStatus.PENDING.value: sums["pending"],
        }
    return figures


def participant_list(campaign, status=None, first=None, last=None):
    """The participants of one status (整合成功 / 整合失敗 / pending), newest first click first."""
    qs = participants_in_range(campaign, first, last)
    if status:
        if status not in ParticipantStatus.values:
            raise CampaignError(_("狀態必須是 success、failure 或 pending。"), field="status")
        qs = qs.filter(status=status)
    return qs.select_related("source_contact", "target_contact", "customer").order_by("-first_clicked_at", "-id")


CSV_HEADER = ("名稱", "來源渠道聯絡人 ID", "目標渠道聯絡人 ID", "參與時間", "完成時間", "狀態", "失敗原因")


def participant_name(p):
    contact = p.source_contact or p.target_contact
    return (p.customer.name if p.customer_id and p.customer else "") or (contact.display_name if contact else "")


def csv_lines(campaign, status, first, last):
    """The export: only with a range (設定時間區間後，才可匯出名單). Lines through core.csv_lines."""
    if first is None:
        raise CampaignError(_("設定時間區間後，才可匯出名單。"), field="start", code="range_required")
    return _csv_rows(campaign, participant_list(campaign, status, first, last))


def _csv_rows(campaign, qs):
    team = campaign.team
    lines = CsvLines()
    yield BOM + lines.row([_(h) for h in CSV_HEADER])
    for p in qs.iterator(chunk_size=2000):
        yield lines.row(
            [
                participant_name(p),
                p.source_contact.external_id if p.source_contact else "",
                p.target_contact.external_id if p.target_contact else "",
                _fmt(team, p.first_clicked_at),
                _fmt(team, p.completed_at),
                p.get_status_display(),
                p.get_reason_display() if p.reason else "",
            ]
        )


def _fmt(team, value):
    return timezone.localtime(value, team.zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""
