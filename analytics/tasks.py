"""django-q2 tasks. Thin and idempotent: arguments are ids, the work is in analytics.rollups."""

from accounts.models import Team

from . import rollups


def on_customer_events(team_id, event_ids):
    """cdp recorded these timeline events (settings.CUSTOMER_EVENT_CONSUMERS).

    Recomputes the (team, local day) buckets the events touch from all the events of those days, so running it
    twice, or for ids already applied, gives the same rollups.
    """
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    return len(rollups.on_events(team, event_ids))


def rebuild_team(team_id):
    team = Team.objects.filter(pk=team_id).first()
    if team is not None:
        rollups.rebuild(team)
