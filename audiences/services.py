"""Audience pack and broadcast operations. Views, the API and tasks call these; none reimplements one.

Broadcast life cycle (seed 004):
    draft ──schedule──▶ scheduled ──(15 min before: snapshot)──▶ scheduled+snapshot ──(send time)──▶ sending ─▶ sent
      │                     │  └─unschedule (before the snapshot)─▶ draft
      └──send_now (snapshot now)──▶ sending                  cancel (draft / scheduled) ─▶ cancelled
Edit matrix: draft — change pack, apply to custom conditions, edit pack; scheduled — edit pack only.
"""

import datetime as dt
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import queues
from cdp import imports
from cdp.models import Channel, ChannelKind, Contact
from cdp.services.contacts import record_interactions
from core import replica
from core.errors import ServiceError
from messaging import policy, stats
from messaging.models import OutboundMessage
from messaging.services import budgets, outbox
from messaging.services.content import check_sendable

from . import conditions as cond
from .models import (
    BROADCAST_CHANNEL_KINDS,
    BROADCAST_CONTENT_TYPES,
    PACK_CHANNEL_KINDS,
    AudiencePack,
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    RecipientState,
)

logger = logging.getLogger(__name__)

SEND_BATCH = 500  # LINE multicast takes up to 500 recipients; the messaging adapter groups by content.
PREVIEW_PAGE = 50


class AudienceError(ServiceError, ValueError):
    """Bad input for a pack or broadcast operation. ``field`` names what is wrong (the path for conditions)."""

    def __init__(self, field, message, *, conflict=False):
        super().__init__(f"{field}: {message}", code="conflict" if conflict else "audience_invalid")
        self.field = field
        self.message = message
        self.conflict = conflict  # True: the object's state forbids it (HTTP 409), else bad input (400)


AUDIENCE_WORK_MEM = "64MB"
# A preview page walks contacts newest first and stops after 50 matches: testing each contact's customer by
# index is cheaper than hashing a large tag / attribute set first (tag OR attribute at 1M contacts: 51 ms → 1 ms),
# while sets of up to a few thousand customers (rare tags, where the walk is long) still fit and are hashed.
PREVIEW_WORK_MEM = "256kB"


@contextmanager
def planned_for_oltp(work_mem=AUDIENCE_WORK_MEM):
    """A transaction planned for audience queries on PostgreSQL (no-op on SQLite):

    - JIT off: the queries are costed high (1M-row scans) but run in milliseconds; compiling alone costs ~0.5 s.
    - ``work_mem`` raised for this transaction only: a tag on 300,000 customers is then answered from one hashed
      set instead of an index probe per contact (nested shape at 1M contacts: 1,050 ms → 700 ms), and hash
      joins stay in memory instead of spilling to temporary files.
    """
    alias = replica.read_alias()  # the replica inside a reads_from_replica view, else the primary
    with transaction.atomic(using=alias):
        if connections[alias].vendor == "postgresql":
            with connections[alias].cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        yield


def _check_conditions(team, tree, root="conditions"):
    try:
        return cond.validate(team, tree, root=root)
    except cond.ConditionError as exc:
        raise AudienceError(exc.path, exc.message) from exc


def _check_channel(team, channel, kinds, field="channel"):
    if channel is None or channel.team_id != team.pk:
        raise AudienceError(field, _("找不到這個渠道。"))
    if channel.kind not in kinds:
        raise AudienceError(field, _("此渠道類型不支援。"))


def _check_name(name):
    name = (name or "").strip()
    if not name:
        raise AudienceError("name", _("請填入名稱。"))
    if len(name) > 120:
        raise AudienceError("name", _("名稱最多 120 字。"))
    return name


# ------------------------------------------------------------------------------------------------- packs


def create_pack(*, team, name, channel, conditions, user=None):
    name = _check_name(name)
    _check_channel(team, channel, PACK_CHANNEL_KINDS)
    _check_conditions(team, conditions)
    pack = AudiencePack.objects.create(team=team, name=name, channel=channel, conditions=conditions, created_by=user)
    refresh_pack_count(pack)  # a saved pack always has a count (issue 20.6), never "—"
    return pack


def update_pack(pack, *, name=None, conditions=None, channel=None):
    """Change a pack. A scheduled broadcast using it picks the change up until its snapshot is taken."""
    if name is not None:
        pack.name = _check_name(name)
    if channel is not None:
        _check_channel(pack.team, channel, PACK_CHANNEL_KINDS)
        if channel.pk != pack.channel_id and pack.broadcasts.exclude(status__in=_FINAL).exists():
            raise AudienceError("channel", _("此受眾包已用於尚未發送的推播，不能更換渠道。"), conflict=True)
        pack.channel = channel
    if conditions is not None:
        _check_conditions(pack.team, conditions)
        pack.conditions = conditions
    pack.save()
    if conditions is not None or channel is not None:
        refresh_pack_count(pack)  # the saved figure is of the saved conditions (issue 20.6)
    return pack


def copy_pack(pack, *, user=None):
    return AudiencePack.objects.create(
        team=pack.team,
        name=(_("%(name)s（複本）") % {"name": pack.name})[:120],
        channel=pack.channel,
        conditions=pack.conditions,
        created_by=user,
    )


def archive_pack(pack):
    if pack.archived_at is None:
        pack.archived_at = timezone.now()
        pack.save(update_fields=["archived_at", "updated_at"])
    return pack


def reactivate_pack(pack):
    if pack.archived_at is not None:
        pack.archived_at = None
        pack.save(update_fields=["archived_at", "updated_at"])
    return pack


def audience(*, team, channel, conditions, now=None):
    """The reachable contacts matching ad-hoc conditions (one lazy query). Raises AudienceError."""
    _check_channel(team, channel, PACK_CHANNEL_KINDS)
    checked = _check_conditions(team, conditions)
    return cond.contacts_matching(team=team, channel=channel, tree=checked, now=now)


def count_audience(*, team, channel, conditions):
    with planned_for_oltp():
        return audience(team=team, channel=channel, conditions=conditions).count()


@dataclass(frozen=True)
class SendEstimate:
    """What 「立即發送」 asks the marketer to confirm: who, where, and roughly what it costs."""

    count: int
    channel: Channel
    unit_cost: object  # Decimal
    currency: str
    total: object  # Decimal


def send_estimate(*, team, channel, conditions):
    """The audience count now and its cost at the team's per-message price (outbox.send_cost, the figure each
    successful send records). An estimate: the list is taken again when the send starts. Raises AudienceError."""
    count = count_audience(team=team, channel=channel, conditions=conditions)
    unit_cost, currency = outbox.send_cost(channel)
    return SendEstimate(count=count, channel=channel, unit_cost=unit_cost, currency=currency, total=unit_cost * count)


def refresh_pack_count(pack):
    """Count the pack now ("update count") and remember the figure and when."""
    pack.last_count = count_audience(team=pack.team, channel=pack.channel, conditions=pack.conditions)
    pack.last_counted_at = timezone.now()
    AudiencePack.objects.filter(pk=pack.pk).update(last_count=pack.last_count, last_counted_at=pack.last_counted_at)
    return pack.last_count


# The preview first walks this many of the newest reachable contacts, testing each by index: at 1M contacts
# ~15-30 ms when none of them matches (the bound of step 1 below), ~2-5 ms when 1 in 20 does.
PREVIEW_WINDOW = 10000


def preview(*, team, channel, conditions, limit=PREVIEW_PAGE, after_id=None):
    """The first page of matching contacts, newest first (keyset pagination by id).

    Two steps, so that no planner estimate can make a page slow. 1) The newest PREVIEW_WINDOW reachable contacts
    (older than ``after_id``), each tested by per-row index probes (``probe=True``: every EXISTS fenced): a walk of
    at most PREVIEW_WINDOW contacts, whatever the statistics say. 2) Only when the window held fewer than
    ``limit`` matches (under 0.5 % of the newest contacts): the rest of the page from the older
    contacts with the plain query, which the planner may answer from the (then small) matching set first.

    One plan for both (the plain query alone) flipped on statistics: tag / attribute sets are underestimated
    (tag and attribute ids imply the team, and a number range is costed over every attribute's numbers), so
    after an ANALYZE the planner built the whole set and sorted it — 55,954 attribute rows probed into contacts
    for the total_spent range AND bound shape at 1M contacts (~550 ms) where the walk needs ~1,000 probes (~5 ms).
    """
    _check_channel(team, channel, PACK_CHANNEL_KINDS)
    checked = _check_conditions(team, conditions)
    now = timezone.now()  # one `now` for both steps
    contacts = cond.reachable_contacts(team=team, channel=channel)
    if after_id:
        contacts = contacts.filter(pk__lt=after_id)

    def matching(probe):
        queryset = cond.contacts_matching(team=team, channel=channel, tree=checked, now=now, probe=probe)
        queryset = queryset.select_related("customer").order_by("-pk")
        return queryset.filter(pk__lt=after_id) if after_id else queryset

    with planned_for_oltp(work_mem=PREVIEW_WORK_MEM):
        oldest = list(contacts.order_by("-pk").values_list("pk", flat=True)[PREVIEW_WINDOW - 1 : PREVIEW_WINDOW])
        if not oldest:  # the window is every contact left
            return list(matching(probe=True)[:limit])
        rows = list(matching(probe=True).filter(pk__gte=oldest[0])[:limit])
        if len(rows) < limit:
            rows += matching(probe=False).filter(pk__lt=oldest[0])[: limit - len(rows)]
        return rows


# -------------------------------------------------------------------------------------------- broadcasts

_FINAL = (BroadcastStatus.SENT, BroadcastStatus.CANCELLED)


def _check_content(team, channel, content):
    """A chatbot module, (WhatsApp) an approved template of this channel with its parameters, or (WeChat) a
    template message: messaging's one "can this content be sent on this channel" check (plain text is not a
    broadcast's content)."""
    try:
        return check_sendable(team, channel, content, types=BROADCAST_CONTENT_TYPES)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise AudienceError(field, messages[0]) from exc


def _check_pack(team, pack, channel):
    if pack is None:
        return None
    if pack.team_id != team.pk:
        raise AudienceError("pack", _("找不到這個受眾包。"))
    if pack.channel_id != channel.pk:
        raise AudienceError("pack", _("受眾包的渠道與推播渠道不同。"))
    if pack.archived_at is not None:
        raise AudienceError("pack", _("受眾包已封存。"))
    return pack


def create_broadcast(*, team, name, channel, content=None, pack=None, custom_conditions=None, user=None):
    name = _check_name(name)
    _check_channel(team, channel, BROADCAST_CHANNEL_KINDS)
    content = _check_content(team, channel, content) if content else {}
    _check_pack(team, pack, channel)
    if custom_conditions is not None:
        _check_conditions(team, custom_conditions, root="custom_conditions")
    return Broadcast.objects.create(
        team=team,
        name=name,
        channel=channel,
        content=content,
        pack=pack,
        custom_conditions=custom_conditions,
        created_by=user,
    )


def _require(broadcast, allowed, action):
    if not allowed:
        raise AudienceError(
            "status",
            _("推播狀態為「%(status)s」時不能%(action)s。")
            % {"status": broadcast.get_status_display(), "action": action},
            conflict=True,
        )


def _locked(broadcast):
    """Re-read the broadcast under a row lock (inside a transaction) so state checks cannot race."""
    return Broadcast.objects.select_for_update().get(pk=broadcast.pk)


def update_broadcast(broadcast, *, name=None, content=None):
    """Change the name and / or the content (``{}`` clears it: a draft may be saved without content)."""
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.can_edit_content, _("修改內容"))
        if name is not None:
            b.name = _check_name(name)
        if content is not None:
            b.content = _check_content(b.team, b.channel, content) if content else {}
        b.save()
    return b


UNCHANGED = object()
THEN = ("save", "schedule", "send_now")


def save_broadcast(
    *,
    team,
    broadcast=None,
    name=None,
    channel=None,
    content=UNCHANGED,
    pack=UNCHANGED,
    custom_conditions=UNCHANGED,
    copy_pack_conditions=False,
    then="save",
    at=None,
    user=None,
    now=None,
):
    """Save a broadcast in one transaction: create it (``broadcast=None``) or change it, set its content and
    audience, then schedule it at ``at`` or send it now (``then``). The console editor and the API both call this.

    All or nothing: any AudienceError (bad name, channel, content, pack, conditions, time, or a state that forbids
    the change) leaves no row created or changed. Arguments left UNCHANGED / None keep the stored value;
    ``custom_conditions=None`` goes back to the pack's conditions; ``copy_pack_conditions`` copies the pack's
    conditions into the broadcast (套用至自訂條件).
    """
    if then not in THEN:
        raise AudienceError("action", _("未知的動作。"))
    with transaction.atomic():
        if broadcast is None:
            b = create_broadcast(
                team=team,
                name=name or "",
                channel=channel,
                content=None if content is UNCHANGED else content,
                pack=None if pack is UNCHANGED else pack,
                custom_conditions=None if custom_conditions is UNCHANGED else custom_conditions,
                user=user,
            )
        else:
            if broadcast.team_id != team.pk:
                raise AudienceError("broadcast", _("找不到這個推播。"))
            b = broadcast
            if channel is not None and channel.pk != b.channel_id:
                raise AudienceError("channel", _("推播的渠道不能更改。"))
            if name is not None or content is not UNCHANGED:
                b = update_broadcast(b, name=name, content=None if content is UNCHANGED else content)
            if pack is not UNCHANGED and pack != b.pack:
                b = change_pack(b, pack)
            if custom_conditions is not UNCHANGED:
                if custom_conditions is None:
                    b = change_pack(b, b.pack)
                else:
                    b = apply_custom_conditions(b, custom_conditions)
        if copy_pack_conditions:
            b = apply_custom_conditions(b)
        if then == "schedule":
            b = schedule(b, at=at, now=now)
        elif then == "send_now":
            b = send_now(b, now=now)
    return b


def change_pack(broadcast, pack):
    """更改受眾包 (draft only): use this pack's conditions, dropping any custom conditions."""
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.can_change_pack, _("更改受眾包"))
        b.pack = _check_pack(b.team, pack, b.channel)
        b.custom_conditions = None
        b.save()
    return b


def apply_custom_conditions(broadcast, conditions=None):
    """套用至自訂條件 (draft only): copy the pack's conditions (or the given ones) into this broadcast only."""
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.can_apply_custom_conditions, _("套用至自訂條件"))
        if conditions is None:
            if b.custom_conditions is not None:
                return b
            if b.pack_id is None:
                raise AudienceError("pack", _("請先選擇受眾包。"))
            conditions = b.pack.conditions
        _check_conditions(b.team, conditions, root="custom_conditions")
        b.custom_conditions = conditions
        b.save()
    return b


def edit_pack(broadcast, *, conditions=None, name=None):
    """編輯受眾包 (draft and scheduled): changes the pack itself, for every broadcast that uses it."""
    _require(broadcast, broadcast.can_edit_pack, _("編輯受眾包"))
    return update_pack(broadcast.pack, conditions=conditions, name=name)


def _check_ready(b):
    if not b.content:
        raise AudienceError("content", _("請選擇訊息內容。"))
    _check_content(b.team, b.channel, b.content)
    if b.conditions is None:
        raise AudienceError("pack", _("請選擇受眾包或設定受眾條件。"))
    if b.pack_id and b.custom_conditions is None and b.pack.archived_at is not None:
        raise AudienceError("pack", _("受眾包已封存。"))
    _check_conditions(b.team, b.conditions, root="custom_conditions" if b.custom_conditions is not None else "pack")


def schedule(broadcast, *, at, now=None):
    now = now or timezone.now()
    if not isinstance(at, dt.datetime) or timezone.is_naive(at):
        raise AudienceError("scheduled_at", _("請填入發送時間。"))
    if at <= now:
        raise AudienceError("scheduled_at", _("發送時間必須晚於現在。"))
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.status == BroadcastStatus.DRAFT, _("排程"))
        _check_ready(b)
        b.status, b.scheduled_at = BroadcastStatus.SCHEDULED, at
        b.save()
    return b  # the per-minute sweep takes the snapshot 15 minutes before `at`


def unschedule(broadcast):
    """Back to draft, while the snapshot has not been taken."""
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.status == BroadcastStatus.SCHEDULED and b.snapshot_taken_at is None, _("取消排程"))
        b.status, b.scheduled_at = BroadcastStatus.DRAFT, None
        b.save()
    return b


def cancel(broadcast):
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED), _("取消"))
        b.status, b.cancelled_at = BroadcastStatus.CANCELLED, timezone.now()
        b.save()
    return b


def send_now(broadcast, *, now=None):
    """Take the snapshot now and start sending (the batches run in a task)."""
    now = now or timezone.now()
    with transaction.atomic():
        b = _locked(broadcast)
        _require(b, b.status == BroadcastStatus.DRAFT, _("立即發送"))
        _check_ready(b)
        b.scheduled_at = now
        _take_snapshot_locked(b, now)
        b.status, b.started_at = BroadcastStatus.SENDING, now
        b.save()
    _hint_send(b.pk)
    return b


# ------------------------------------------------------------------------------------ snapshot and sending


def take_snapshot(broadcast, *, now=None):
    """Materialise the recipients (INSERT ... SELECT, one statement). Idempotent: a taken snapshot stays."""
    now = now or timezone.now()
    with transaction.atomic():
        b = _locked(broadcast)
        if b.status != BroadcastStatus.SCHEDULED or b.snapshot_taken_at is not None:
            return b
        _take_snapshot_locked(b, now)
        b.save()
    return b


def _take_snapshot_locked(b, now):
    queryset = cond.contacts_matching(team=b.team, channel=b.channel, tree=b.conditions, now=now)
    sql, params = queryset.values_list("team_id", "id").query.sql_with_params()
    table = BroadcastRecipient._meta.db_table
    # A plain INSERT, in contact order: the contact ids are distinct (one row per contact), the broadcast has no
    # rows yet (its snapshot is taken once, under its row lock; leftovers are cleared first), so ON CONFLICT would
    # only add a speculative insertion per row (~25 % of the statement); sorted ids append to the right-hand edge
    # of both (broadcast, ..., contact) indexes instead of random leaf pages. The row count comes back with it.
    with planned_for_oltp(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE broadcast_id = %s", [b.pk])
        cursor.execute(
            f"INSERT INTO {table} (team_id, contact_id, broadcast_id, state, skip_reason) "
            f"SELECT s.team_id, s.id, %s, %s, '' FROM ({sql}) s ORDER BY s.id",
            (b.pk, RecipientState.PENDING, *params),
        )
        inserted = cursor.rowcount
    b.recipient_count = inserted
    b.snapshot_taken_at = now


def start_due_sends(*, now=None):
    """Scheduled broadcasts whose snapshot is taken and whose time has come → sending. Returns their ids."""
    now = now or timezone.now()
    ids = []
    with transaction.atomic():
        due = Broadcast.objects.filter(
            status=BroadcastStatus.SCHEDULED, snapshot_taken_at__isnull=False, scheduled_at__lte=now
        )
        for b in due.select_for_update(skip_locked=True):
            b.status, b.started_at = BroadcastStatus.SENDING, now
            b.save(update_fields=["status", "started_at", "updated_at"])
            ids.append(b.pk)
    return ids


@dataclass
class BatchResult:
    claimed: int
    enqueued: int
    skipped: int


def send_batch(broadcast_id, *, now=None, size=SEND_BATCH):
    """Claim up to `size` pending recipients, apply the send policy, enqueue them in the outbox, mark them.

    One transaction: the outbox rows and the recipients' state commit together, so a worker killed mid-batch
    leaves the batch pending for the next run, and the outbox's idempotency key (broadcast, contact) makes a
    repeated enqueue a no-op. When no pending recipient is left, the broadcast is marked sent.
    """
    now = now or timezone.now()
    # The channel's budget made fresh before the batch (outside the transaction: it may call LINE's quota API);
    # the policy then skips every recipient of an exhausted channel with "budget_exhausted".
    channel = Channel.objects.filter(broadcasts__pk=broadcast_id).select_related("team").first()
    if channel is not None:
        budgets.check_before_batch(channel, now)
    with transaction.atomic():
        b = Broadcast.objects.select_for_update(skip_locked=True).filter(pk=broadcast_id).first()
        if b is None or b.status != BroadcastStatus.SENDING:
            return BatchResult(0, 0, 0)
        pending = list(
            BroadcastRecipient.objects.filter(broadcast_id=b.pk, state=RecipientState.PENDING)
            .select_for_update(skip_locked=True)
            .order_by("contact_id")[:size]
        )
        if not pending:
            b.status, b.finished_at = BroadcastStatus.SENT, now
            b.save(update_fields=["status", "finished_at", "updated_at"])
            return BatchResult(0, 0, 0)
        contacts = Contact.objects.filter(team_id=b.team_id, pk__in=[r.contact_id for r in pending]).select_related(
            "channel", "team"
        )
        by_id = {c.pk: c for c in contacts}
        send_now_ids, deferred, skipped = [], {}, {}
        for recipient in pending:
            contact = by_id.get(recipient.contact_id)
            if contact is None:
                skipped.setdefault("not_subscribed", []).append(recipient.pk)
                continue
            # check_send applies cdp's recipient rule: blocked, unsubscribed from broadcasts, over the quota
            decision = policy.check_send(contact=contact, content=b.content, now=now, kind="marketing")
            if decision.action == "skip":
                skipped.setdefault(decision.reason[:64] or "policy", []).append(recipient.pk)
            elif decision.action == "defer" and decision.until:
                deferred.setdefault(decision.until, []).append(contact.pk)
            else:
                send_now_ids.append(contact.pk)
        groups = [(None, send_now_ids), *deferred.items()]
        enqueued = 0
        for send_after, ids in groups:
            if ids:
                outbox.enqueue_many(
                    team=b.team,
                    channel=b.channel,
                    contacts_or_ids=ids,
                    content=b.content,
                    origin="broadcast",
                    origin_id=b.pk,
                    key_prefix=f"broadcast:{b.pk}",
                    send_after=send_after,
                )
                enqueued += len(ids)
        sent_contact_ids = send_now_ids + [cid for _until, ids in deferred.items() for cid in ids]
        BroadcastRecipient.objects.filter(broadcast_id=b.pk, contact_id__in=sent_contact_ids).update(
            state=RecipientState.ENQUEUED
        )
        for reason, ids in skipped.items():
            BroadcastRecipient.objects.filter(pk__in=ids).update(state=RecipientState.SKIPPED, skip_reason=reason)
        if sent_contact_ids:
            record_interactions(sent_contact_ids, kind="team_marketing", occurred_at=now)
    return BatchResult(len(pending), enqueued, sum(len(v) for v in skipped.values()))


def send_all(broadcast_id, *, now=None, size=SEND_BATCH, max_batches=None, deadline=None):
    """Run batches until the broadcast is sent (or `max_batches`, or the monotonic `deadline`). Safe to run in
    several workers at once."""
    batches = 0
    while max_batches is None or batches < max_batches:
        if deadline is not None and time.monotonic() >= deadline:
            break
        result = send_batch(broadcast_id, now=now, size=size)
        batches += 1
        if result.claimed == 0:
            break
    return batches


def sweep(*, now=None, max_seconds=50.0):
    """Take due snapshots (15 minutes before the send time), start due sends, and send for the broadcasts that are
    sending, for up to `max_seconds`. The sweep sends itself rather than enqueue a task per broadcast: a send whose
    worker died resumes at the next sweep, not behind whatever the queue holds, and no hints pile up."""
    now = now or timezone.now()
    deadline = time.monotonic() + max_seconds
    for b in Broadcast.objects.snapshot_due(now).only("pk"):
        take_snapshot(b, now=now)
    start_due_sends(now=now)
    sending = list(Broadcast.objects.filter(status=BroadcastStatus.SENDING).values_list("pk", flat=True))
    for broadcast_id in sending:
        send_all(broadcast_id, now=now, deadline=deadline)
    return sending


def _enqueue_send(broadcast_id):
    queues.enqueue("audiences.tasks.send_broadcast", broadcast_id, task_name=f"broadcast:{broadcast_id}")


def _hint_send(broadcast_id):
    transaction.on_commit(lambda: _enqueue_send(broadcast_id))


# --------------------------------------------------------------------------------------------------- report


def report(broadcast):
    """Recipients, sends, failures with reasons, opens / reads, replies, clicks and cost (seed 003's rules)."""
    messages = OutboundMessage.objects.filter(team=broadcast.team, origin="broadcast", origin_id=broadcast.pk)
    summary = dict(stats.summarize(messages))
    skipped = (
        BroadcastRecipient.objects.filter(broadcast=broadcast, state=RecipientState.SKIPPED)
        .values("skip_reason")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    summary["snapshot"] = broadcast.recipient_count or 0
    team = broadcast.team
    summary["cost_currency"] = (
        team.whatsapp_cost_currency if broadcast.channel.kind == ChannelKind.WHATSAPP else team.line_cost_currency
    )
    summary["skipped"] = {row["skip_reason"]: row["n"] for row in skipped}
    return summary


CSV_BROADCAST_TAG = "CSV 推播 #%(job)s"


def csv_broadcast(*, team, name, channel, upload, content=None, user=None):
    """CSV 推播: the uploaded contacts (first column: the channel's contact id) go through the import pipeline into
    the channel (contacts it creates get source 匯入名單), each tagged with this upload's own tag; the draft
    broadcast's audience is exactly that tag on that channel. Returns (broadcast, import job)."""
    _check_channel(team, channel, BROADCAST_CHANNEL_KINDS)
    name = _check_name(name)
    job = imports.create_job(team=team, upload=upload, channel=channel, user=user)
    try:
        tag = CSV_BROADCAST_TAG % {"job": job.pk}
        job = imports.start(job, imports.contact_list_mapping(job, tag=tag))
    except imports.ImportFileError as exc:
        job.delete()
        raise ServiceError(str(exc), field="file", code=exc.code) from exc
    if job.status == "failed":
        raise ServiceError(_("CSV 無法匯入，請查看匯入工作 #%(job)s。") % {"job": job.pk}, field="file")
    conditions = {"op": "and", "children": [{"type": "tag", "op": "has", "match": "any", "tags": [tag]}]}
    broadcast = create_broadcast(
        team=team, name=name, channel=channel, content=content, custom_conditions=conditions, user=user
    )
    return broadcast, job
