"""社群點數: the points ledger. Every change of a customer's balance is one append-only PointsTransaction, written in
the transaction that locks the customer row, so points_balance == the sum of the customer's ledger rows even under
concurrent changes (the row lock serialises them)."""

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team
from core.errors import ServiceError

from ..events import record_events
from ..models import Customer, CustomerEvent, EventType, PointsSource, PointsTransaction

MAX_POINTS_DELTA = 1_000_000_000
MAX_KEY_LENGTH = 200


def check_delta(delta):
    """One change's amount: a non-zero integer within MAX_POINTS_DELTA. The points import checks each row's
    amount with it while reading the file, before anything is written."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise ServiceError(_("點數必須是整數。"), field="delta", code="invalid_points")
    if delta == 0 or abs(delta) > MAX_POINTS_DELTA:
        raise ServiceError(
            _("點數變動必須是非零整數，且不超過 %(n)s。") % {"n": MAX_POINTS_DELTA},
            field="delta",
            code="invalid_points",
        )


def _clean(delta, source, idempotency_key):
    check_delta(delta)
    if source not in PointsSource.values:
        raise ServiceError(_("未知的點數來源：%(source)s") % {"source": source}, field="source", code="invalid_source")
    key = str(idempotency_key or "").strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ServiceError(
            _("冪等鍵最多 %(n)s 個字元。") % {"n": MAX_KEY_LENGTH},
            field="idempotency_key",
            code="invalid_idempotency_key",
        )
    return key


class IdempotencyConflict(ServiceError):
    status = 409


def _replay(existing, locked, delta):
    """The same key again: the first change's result when it was the same change, an error otherwise."""
    if existing.delta != delta or existing.customer_id not in (locked.pk, locked.merged_into_id):
        raise IdempotencyConflict(
            _("這個冪等鍵已用於另一筆點數變動。"), field="idempotency_key", code="idempotency_conflict"
        )
    existing.replayed = True
    return existing


def adjust_points(*, customer, delta, reason, source, idempotency_key="", occurred_at=None):
    """Add (delta > 0) or deduct (delta < 0) points; returns the PointsTransaction (`.replayed` is True when the
    idempotency key had already been used for this same change, which then changes nothing).

    A deduction never takes the balance below zero unless the team allows it. Positive deltas also grow
    points_accumulated. Writes a points_changed timeline event. Updates `customer` in place.
    """
    key = _clean(delta, source, idempotency_key)
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if key:
            existing = PointsTransaction.objects.filter(team_id=locked.team_id, idempotency_key=key).first()
            if existing is not None:
                _sync(customer, locked)
                return _replay(existing, locked, delta)
        if locked.merged_into_id:
            raise ServiceError(_("這位顧客已合併到另一位顧客。"), code="customer_merged")
        balance = locked.points_balance + delta
        if balance < 0 and delta < 0:
            allow_negative = Team.objects.filter(pk=locked.team_id).values_list("points_allow_negative", flat=True)
            if not allow_negative.get():
                raise ServiceError(
                    _("點數不足：餘額 %(balance)s，欲扣除 %(delta)s。")
                    % {"balance": locked.points_balance, "delta": -delta},
                    field="delta",
                    code="insufficient_points",
                )
        try:
            with transaction.atomic():  # a savepoint: the same key taken at once for another customer
                entry = PointsTransaction.objects.create(
                    team_id=locked.team_id,
                    customer_id=locked.pk,
                    delta=delta,
                    balance_after=balance,
                    reason=str(reason or "")[:200],
                    source=source,
                    idempotency_key=key,
                    occurred_at=occurred_at,
                )
        except IntegrityError:
            existing = PointsTransaction.objects.get(team_id=locked.team_id, idempotency_key=key)
            _sync(customer, locked)
            return _replay(existing, locked, delta)
        accumulated = locked.points_accumulated + max(delta, 0)
        Customer.objects.filter(pk=locked.pk).update(
            points_balance=balance, points_accumulated=accumulated, updated_at=timezone.now()
        )
        customer.points_balance, customer.points_accumulated = balance, accumulated
        record_events(
            [
                CustomerEvent(
                    team_id=locked.team_id,
                    customer_id=locked.pk,
                    type=EventType.POINTS_CHANGED,
                    occurred_at=occurred_at,
                    data={
                        "delta": delta,
                        "balance": balance,
                        "reason": entry.reason,
                        "source": source,
                        "transaction_id": entry.pk,
                    },
                )
            ]
        )
    entry.replayed = False
    return entry


def _sync(customer, locked):
    customer.points_balance, customer.points_accumulated = locked.points_balance, locked.points_accumulated


def history(team, customer):
    """The customer's ledger, newest first: its own rows and those of the customers merged into it."""
    return PointsTransaction.objects.for_team(team).filter(customer=customer).order_by("-id")


def settle_unmerge(*, survivor, balance, accumulated, now):
    """The survivor's (balance, accumulated) after an un-merge took the absorbed customer's ledger rows back.

    `balance` is the business rule's figure (what the survivor had less what the absorbed customer brought). A team
    that does not allow negative balances keeps it at 0 when points spent after the merge came from the absorbed
    customer's share. Where the survivor's ledger does not add up to the result (that case, or a merge made before
    the ledger existed), one `unmerge` row makes up the difference, so the ledger always adds up."""
    if balance < 0 and not Team.objects.filter(pk=survivor.team_id, points_allow_negative=True).exists():
        balance = 0
    held = PointsTransaction.objects.filter(customer_id=survivor.pk).aggregate(total=Sum("delta"))["total"] or 0
    if held != balance:
        PointsTransaction.objects.create(
            team_id=survivor.team_id,
            customer_id=survivor.pk,
            delta=balance - held,
            balance_after=balance,
            reason=_("取消合併：歸還被合併顧客的點數"),
            source=PointsSource.UNMERGE,
            occurred_at=now,
        )
        accumulated += max(balance - held, 0)
    return balance, max(accumulated, 0)
