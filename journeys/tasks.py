"""django-q2 tasks of the journeys app. All thin and idempotent; arguments are ids.

Schedules (created idempotently by `ensure_schedules`, called from a post_migrate handler in apps.py):
- journeys.tasks.run_engine      every minute: claim and process due enrollments for up to ~50 s
- journeys.tasks.tick            every minute: sweep expired claims, scheduled start/end, halt stopping journeys
- journeys.tasks.refresh_rollups every hour: per-node and per-version statistics (seed 002: 每小時更新一次)
Queue messages are only wake-up hints: the scheduled runner finds due rows anyway.
"""

import logging

from django.db.models import Q

from accounts import outbound_webhooks, queues
from accounts.models import Team

logger = logging.getLogger(__name__)

SCHEDULES = [
    ("journeys: engine", "journeys.tasks.run_engine", "I", 1),
    ("journeys: tick", "journeys.tasks.tick", "I", 1),
    ("journeys: statistics rollups", "journeys.tasks.refresh_rollups", "H", None),
]


def ensure_schedules(**kwargs):
    from django_q.models import Schedule

    for name, func, kind, minutes in SCHEDULES:
        schedule_type = Schedule.MINUTES if kind == "I" else Schedule.HOURLY
        queues.ensure_schedule(name, func, schedule_type=schedule_type, minutes=minutes)


def on_customer_events(team_id, event_ids):
    """New timeline events (cdp.events): merges and un-merges move enrollments (services.follow_customer_events),
    then triggers fire. Idempotent: an event enrols once, a merge is followed once."""
    from .services import follow_customer_events
    from .triggers import fire_events

    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    follow_customer_events(team, event_ids)
    return fire_events(team, event_ids)


def on_signal(team_id, kind, payload):
    """System signals (accounts.notify): stop journeys whose module, template, attribute or budget went away."""
    from .signals import handle_signal

    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    return handle_signal(team, kind, payload or {})


def run_engine(max_seconds=50.0):
    from . import engine

    return engine.run(max_seconds=max_seconds)


def tick():
    from . import engine, services
    from .models import Journey
    from .statemachine import JourneyStatus

    swept = engine.sweep()
    changed = services.apply_schedule()
    for journey in Journey.objects.filter(status=JourneyStatus.STOPPING):
        services.halt_stopping(journey)
    return {"swept": swept, "schedule_changes": changed}


def halt_journey(team_id, journey_id):
    from . import services
    from .models import Journey

    journey = Journey.objects.filter(team_id=team_id, pk=journey_id).first()
    if journey is not None:
        services.halt_stopping(journey)


def refresh_rollups(team_id=None):
    from .stats import refresh_team

    teams = Team.objects.all() if team_id is None else Team.objects.filter(pk=team_id)
    for team in teams.filter(Q(pk__in=_teams_with_journeys())):
        refresh_team(team)


def _teams_with_journeys():
    from .models import Journey

    return Journey.objects.exclude(current_version=None).values("team_id")


def post_outbound_webhook(team_id, payload, timeout=None):
    """Hints queued before outbound webhooks became rows: record the delivery so nothing queued is lost."""
    return outbound_webhooks.enqueue_many([(team_id, payload)])
