"""Thin tasks: the payment events drain, WhatsApp catalog orders handed over by messaging."""

from accounts.models import Team
from accounts.queues import ensure_schedule

from .services import payments
from .services.inbound import order_from_whatsapp


def process_payment_events():
    return payments.process_events()


def on_inbound_message(team_id, kind, payload):
    """accounts.handoff "inbound" consumer: a WhatsApp catalog `order` → a draft order and its link."""
    if kind != "whatsapp_order":
        return None
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return None
    order = order_from_whatsapp(team, payload or {})
    return order.pk if order else None


def ensure_schedules():
    ensure_schedule("commerce: payment events", "commerce.tasks.process_payment_events")
