"""coupons' hand-off consumer: redemptions arrive as cdp timeline events (settings.CUSTOMER_EVENT_CONSUMERS)."""

from accounts.models import Team

from . import services


def on_customer_events(team_id, event_ids):
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    return services.redeem_from_events(team, event_ids)
