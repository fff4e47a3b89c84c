"""Card payments through a provider adapter (sandbox by default, Stripe Checkout Sessions), their webhooks, and
the one path from "the provider says paid" to a paid order: complete(). Offline methods: orders.mark_paid()."""

import logging

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.queues import Hint
from core.errors import ServiceError

from ...models import Order, Payment, PaymentEvent, PaymentEventState, PaymentMethod, PaymentStatus
from ...statemachine import OrderStatus
from .. import links, orders, shop_settings
from .base import ProviderError, WebhookEvent, WebhookRejected
from .sandbox import SandboxProvider
from .stripe import StripeProvider

logger = logging.getLogger(__name__)

PROVIDERS = {"sandbox": SandboxProvider, "stripe": StripeProvider}

_hint = Hint(
    "commerce.tasks.process_payment_events", interval_setting="COMMERCE_PAYMENT_HINT_SECONDS", drain="commerce-payments"
)

__all__ = ["ProviderError", "WebhookRejected", "provider_for", "start_payment", "accept_webhook", "process_events"]


def provider_for(row, name=None):
    name = name or row.payment_provider
    return PROVIDERS[name](row.provider_credentials if name == row.payment_provider else {})


def start_payment(order):
    """The customer pressed 「付款」: a hosted checkout for the order's card payment. A second press (double click,
    another tab) gets the same pending payment and URL, never a second payment."""
    row = shop_settings.get_settings(order.team)
    with transaction.atomic():
        locked = Order.objects.select_for_update().select_related("team").get(pk=order.pk)
        if locked.status != OrderStatus.AWAITING_PAYMENT:
            raise ServiceError(_("這張訂單目前無法付款。"), field="status", code="invalid_transition")
        if locked.payment_method != PaymentMethod.CARD:
            raise ServiceError(
                _("這張訂單以線下方式付款，請依商家指示付款。"), field="payment_method", code="offline_payment"
            )
        existing = Payment.objects.filter(order=locked, status=PaymentStatus.PENDING).first()
        if existing is not None and existing.checkout_url:
            return existing
        try:
            with transaction.atomic():
                payment = existing or Payment.objects.create(
                    team_id=locked.team_id,
                    order=locked,
                    provider=row.payment_provider,
                    method=PaymentMethod.CARD,
                    amount=locked.total,
                    currency=locked.currency,
                    email=orders.payer_email(locked, row),
                )
        except IntegrityError:  # another request made the pending payment first (SQLite has no row lock)
            return Payment.objects.get(order=locked, status=PaymentStatus.PENDING)
        page = links.order_url(locked)
        try:
            checkout = provider_for(row, payment.provider).start(
                payment, email=payment.email, success_url=page + "?paid=1", cancel_url=page
            )
        except ProviderError as error:
            logger.warning("payment %s: %s", payment.pk, error)
            raise ServiceError(_("金流暫時無法使用，請稍後再試。"), field="payment", code="provider_error") from None
        payment.provider_ref, payment.checkout_url = checkout.ref, checkout.url
        payment.save(update_fields=["provider_ref", "checkout_url"])
    return payment


def accept_webhook(team, provider_name, body, headers):
    """Verify, store (deduplicated by event id), hint the worker. Returns the number of new events."""
    row = shop_settings.get_settings(team)
    if provider_name not in PROVIDERS or provider_name == "sandbox":
        raise WebhookRejected(404, "unknown provider")
    events = provider_for(row, provider_name).parse_webhook(body, headers)
    return store_events(team, provider_name, events)


def store_events(team, provider_name, events):
    rows = [
        PaymentEvent(team=team, provider=provider_name, event_id=e.event_id[:255], type=e.type, payload=e.payload)
        for e in events
    ]
    with transaction.atomic():
        created = PaymentEvent.objects.bulk_create(rows, ignore_conflicts=True)
        transaction.on_commit(_hint)
    return len(created)


def sandbox_result(payment, result):
    """The sandbox page's 付款 / 失敗 buttons: an event like a provider's, through the same processing."""
    if result not in ("paid", "failed"):
        raise ServiceError(_("不支援的結果。"), field="result", code="invalid")
    event = WebhookEvent(
        event_id=f"sbx:{payment.pk}:{result}",
        type=f"sandbox.{result}",
        payload={"ref": payment.provider_ref, "result": result},
    )
    store_events(payment.order.team, "sandbox", [event])
    process_events()


# ---------------------------------------------------------------------------------------------- worker
def process_events(batch_size=100):
    """Claim pending payment events (SKIP LOCKED) and apply each: a redelivered or second "paid" finds the
    order already paid and changes nothing. Returns the number handled."""
    handled = 0
    while True:
        with transaction.atomic():
            batch = list(
                PaymentEvent.objects.select_for_update(skip_locked=True)
                .filter(state=PaymentEventState.PENDING)
                .order_by("received_at", "id")[:batch_size]
            )
            for event in batch:
                _apply(event)
        handled += len(batch)
        if len(batch) < batch_size:
            return handled


def _apply(event):
    row = shop_settings.get_settings(event.team)
    provider = provider_for(row, event.provider)
    ref, result = provider.outcome(WebhookEvent(event.event_id, event.type, event.payload))
    state, error = PaymentEventState.PROCESSED, ""
    try:
        with transaction.atomic():
            if result is not None:
                payment = Payment.objects.filter(
                    team_id=event.team_id, provider=event.provider, provider_ref=ref
                ).first()
                if payment is None:
                    state, error = PaymentEventState.REJECTED, f"no payment {ref[:100]}"
                elif result == "paid":
                    error = complete(payment)
                else:
                    Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
                        status=PaymentStatus.FAILED
                    )
    except ServiceError as exc:
        state, error = PaymentEventState.FAILED, str(exc)
    PaymentEvent.objects.filter(pk=event.pk).update(state=state, error=error[:500], processed_at=timezone.now())


def complete(payment):
    """The provider says this payment is paid: the order becomes paid once. Returns a note ("" when it did)."""
    locked = Order.objects.select_for_update().get(pk=payment.order_id)
    if locked.status != OrderStatus.AWAITING_PAYMENT:
        if Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PAID).exists():
            return "already paid"
        return f"order is {locked.status}"
    orders.mark_paid(locked, actor=f"{payment.provider}", payment=payment)
    return ""


def webhook_url(team, provider_name):
    return links.public_base() + reverse("commerce-webhook", args=[provider_name, team.pk])
