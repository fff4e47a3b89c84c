"""What an SMS costs and how it is paid from the account balance (seed 004: 1 per 則, in the team's currency).

Debit when the send is accepted for dispatch (in the transaction that writes the outbox row, keyed by the row, so
the same SMS is never debited twice), then settle on the provider's answer: its segment count wins over our
estimate (the difference is debited, or the debit refunded and the provider's count debited), and a send the
provider rejects is refunded with a 退款. Kept apart from the outbox so the outbox can call it without a cycle.
"""

from decimal import Decimal

from billing import services as ledger

from ..models import OutboundMessage

PRICE_PER_SEGMENT = Decimal("1")
DEBIT_TYPE = "sms_debit"


def price(segments):
    return PRICE_PER_SEGMENT * segments


def debit_key(message):
    return f"sms:{message.pk}"


def _usage(message):
    """The plain strings the usage statistics and the bill group by: the feature (origin) and the contact's channel."""
    return {"feature": message.origin, "channel": message.contact.channel.kind}


def charge(message, segments, *, actor=""):
    """Debit `segments` 則 for a new outbox row; BalanceBlocked (below the grace amount) propagates, nothing debited."""
    amount = price(segments)
    ledger.debit(
        message.team,
        amount,
        type=DEBIT_TYPE,
        idempotency_key=debit_key(message),
        reference=f"outbound:{message.pk}",
        note=message.get_origin_display(),
        actor=actor,
        quantity=segments,
        **_usage(message),
    )
    OutboundMessage.objects.filter(pk=message.pk).update(
        segments=segments, cost=amount, cost_currency=message.team.currency
    )
    message.segments, message.cost = segments, amount


def settle(message, reported):
    """The provider accepted the SMS as `reported` 則: bill that count rather than our estimate.

    More 則 than debited: the difference is debited. Fewer: the first debit is refunded and the provider's count
    debited. The SMS is already sent, so these debits are forced (`force=True`): a team that fell below its grace
    amount meanwhile is still billed for what it sent, and balance == Σ ledger keeps the true cost."""
    billed = message.segments
    if not reported or reported == billed or not billed:
        return
    team = message.team
    if reported > billed:
        ledger.debit(
            team,
            price(reported - billed),
            type=DEBIT_TYPE,
            idempotency_key=f"{debit_key(message)}:extra",
            reference=f"outbound:{message.pk}",
            note=message.get_origin_display(),
            quantity=reported - billed,
            force=True,
            **_usage(message),
        )
    else:
        ledger.refund(team, idempotency_key=f"{debit_key(message)}:recount", of_key=debit_key(message))
        ledger.debit(
            team,
            price(reported),
            type=DEBIT_TYPE,
            idempotency_key=f"{debit_key(message)}:provider",
            reference=f"outbound:{message.pk}",
            note=message.get_origin_display(),
            quantity=reported,
            force=True,
            **_usage(message),
        )
    OutboundMessage.objects.filter(pk=message.pk).update(segments=reported, cost=price(reported))
    message.segments = reported


def refund(message, reason=""):
    """The provider rejected the SMS (or it never left): give back every debit of this row, once."""
    team = message.team
    keys = [debit_key(message), f"{debit_key(message)}:extra", f"{debit_key(message)}:provider"]
    refunded = False
    for key in keys:
        try:
            ledger.refund(team, idempotency_key=f"{key}:refund", of_key=key, note=reason[:200])
            refunded = True
        except ledger.BillingError:
            continue  # no such debit (the extra / provider debits exist only after a recount)
    if refunded:
        OutboundMessage.objects.filter(pk=message.pk).update(cost=0)
