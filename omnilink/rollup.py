"""The statistics' daily rollup (DailyCount): what each participant state counts for, the deltas written with every
participant insert and settlement, the per-minute compaction, and the rebuild from the participants (the backfill
migration, demo data and benchmarks that write participants past the services).

A participant counts, on the team-local day of its first click, for: participants (always), successes / failures /
pending by status, its reason's column when it failed, and new_contacts when it succeeded with a target contact
that was new to the team. These are exactly the definitions of services.statistics; a settlement adds
count(new state) - count(old state).
"""

import zoneinfo
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Campaign, DailyCount, FailureReason, Participant, ParticipantStatus

REASONS = tuple(FailureReason.values)
FIELDS = ("participants", "successes", "failures", "pending", "new_contacts", *REASONS)


def counts(status, reason="", target_is_new=False):
    """What one participant in this state counts for ({column: 1})."""
    if status == ParticipantStatus.SUCCESS:
        return {"participants": 1, "successes": 1, **({"new_contacts": 1} if target_is_new else {})}
    if status == ParticipantStatus.FAILURE:
        return {"participants": 1, "failures": 1, **({reason: 1} if reason in REASONS else {})}
    if status == ParticipantStatus.PENDING:
        return {"participants": 1, "pending": 1}
    return {}


def change(old, new):
    """The delta of a settlement: counts(*new) - counts(*old), zeros left out."""
    delta = defaultdict(int)
    for column, n in counts(*new).items():
        delta[column] += n
    for column, n in counts(*old).items():
        delta[column] -= n
    return {column: n for column, n in delta.items() if n}


def day_of(zone, at):
    return timezone.localtime(at, zone).date()


def _zones(team_ids, cached=()):
    zones = {team.pk: team.zone for team in cached}
    missing = set(team_ids) - set(zones)
    if missing:
        from accounts.models import Team

        for pk, name in Team.objects.filter(pk__in=missing).values_list("pk", "time_zone"):
            zones[pk] = zoneinfo.ZoneInfo(name)
    return zones


def _write(deltas):
    """deltas: {(team_id, campaign_id, zone, day): {column: n}} → one INSERT of delta rows (no upsert: no row
    lock, so no click or webhook batch waits on another's)."""
    rows = [
        DailyCount(team_id=team_id, campaign_id=campaign_id, zone=zone, day=day, **values)
        for (team_id, campaign_id, zone, day), values in sorted(deltas.items())
        if any(values.values())
    ]
    if rows:
        DailyCount.objects.bulk_create(rows)


def record_created(participants):
    """New participant rows (inside their insert's transaction)."""
    participants = [p for p in participants if p.pk is not None]
    if not participants:
        return
    cached = [p.team for p in participants if Participant.team.is_cached(p)]
    zones = _zones({p.team_id for p in participants}, cached)
    deltas = defaultdict(lambda: defaultdict(int))
    for p in participants:
        zone = zones[p.team_id]
        key = (p.team_id, p.campaign_id, zone.key, day_of(zone, p.first_clicked_at))
        for column, n in counts(p.status, p.reason, p.target_is_new).items():
            deltas[key][column] += n
    _write(deltas)


def record_change(participant, team, old, new):
    """One participant's settlement (old and new are (status, reason, target_is_new)), in its transaction."""
    delta = change(old, new)
    if delta:
        day = day_of(team.zone, participant.first_clicked_at)
        _write({(participant.team_id, participant.campaign_id, team.time_zone, day): delta})


def record_swept(rows, old, new):
    """Settled in bulk: rows of (team_id, campaign_id, first_clicked_at), each from `old` to `new`."""
    delta = change(old, new)
    zones = _zones({team_id for team_id, _c, _at in rows})
    deltas = defaultdict(lambda: defaultdict(int))
    for team_id, campaign_id, at in rows:
        key = (team_id, campaign_id, zones[team_id].key, day_of(zones[team_id], at))
        for column, n in delta.items():
            deltas[key][column] += n
    _write(deltas)


# ------------------------------------------------------------------------------------------------------ reading
def _in_current_zone(team, campaign_ids):
    """Recount the campaigns whose rows were counted in another time zone than the team's (it has changed)."""
    stale = (
        DailyCount.objects.for_team(team)
        .filter(campaign_id__in=campaign_ids)
        .exclude(zone=team.time_zone)
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    stale = list(stale)
    if stale:
        rebuild(campaign_ids=stale)


def daily(campaign, first=None, last=None):
    """[{day, <each column>: sum}] of one campaign, by day, for the days first..last (team-local) or all time."""
    _in_current_zone(campaign.team, [campaign.pk])
    qs = DailyCount.objects.for_team(campaign.team).filter(campaign=campaign)
    if first is not None:
        qs = qs.filter(day__gte=first, day__lte=last)
    return list(qs.values("day").annotate(**{column: Sum(column) for column in FIELDS}).order_by("day"))


def campaign_totals(team, campaign_ids):
    """{campaign id: {column: sum}} of several campaigns of one team, in one grouped query."""
    _in_current_zone(team, campaign_ids)
    qs = DailyCount.objects.for_team(team).filter(campaign_id__in=campaign_ids).values("campaign_id")
    return {row.pop("campaign_id"): row for row in qs.annotate(**{c: Sum(c) for c in FIELDS}).order_by()}


# --------------------------------------------------------------------------------------------------- upkeep
def compact(*, limit=1000):
    """Fold each (campaign, day) that has several delta rows into one row (the per-minute task). The rows folded
    are locked and deleted and their sum inserted in one transaction, so the figures never change; rows being
    written meanwhile are skipped and folded next time. Returns the number of rows removed."""
    keys = (
        DailyCount.objects.values("team_id", "campaign_id", "zone", "day")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by()[:limit]
    )
    removed = 0
    for key in list(keys):
        with transaction.atomic():
            rows = list(
                DailyCount.objects.select_for_update(skip_locked=True)
                .filter(team_id=key["team_id"], campaign_id=key["campaign_id"], zone=key["zone"], day=key["day"])
                .values("id", *FIELDS)
            )
            if len(rows) < 2:
                continue
            DailyCount.objects.filter(team_id=key["team_id"], pk__in=[row["id"] for row in rows]).delete()
            sums = {column: sum(row[column] for row in rows) for column in FIELDS}
            DailyCount.objects.create(**{k: key[k] for k in ("team_id", "campaign_id", "zone", "day")}, **sums)
            removed += len(rows) - 1
    return removed


def rebuild(*, campaign_ids=None, models=None):
    """Recount the rollup of these campaigns (all when None) from their participants: one GROUP BY per team. For
    the backfill migration (which passes its historical models as (Participant, DailyCount, Campaign, Team)), and
    for rows written past the services (demo data, benchmarks). Exact while clicks arrive: on PostgreSQL the
    rollup table is locked against writes first, so every participant either is in this count or writes its delta
    after it."""
    participant_model, count_model, campaign_model, team_model = models or (Participant, DailyCount, Campaign, None)
    if team_model is None:
        from accounts.models import Team as team_model
    campaigns = campaign_model._default_manager.all()
    if campaign_ids is not None:
        campaigns = campaigns.filter(pk__in=campaign_ids)
    by_team = defaultdict(list)
    for pk, team_id in campaigns.values_list("pk", "team_id"):
        by_team[team_id].append(pk)
    zones = dict(team_model._default_manager.filter(pk__in=list(by_team)).values_list("pk", "time_zone"))
    with transaction.atomic(using=count_model._default_manager.db):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {count_model._meta.db_table} IN EXCLUSIVE MODE")
        for team_id, ids in sorted(by_team.items()):
            zone_name = zones[team_id]
            zone = zoneinfo.ZoneInfo(zone_name)
            grouped = (
                participant_model._default_manager.filter(team_id=team_id, campaign_id__in=ids)
                .annotate(day=TruncDate("first_clicked_at", tzinfo=zone))
                .values("campaign_id", "day", "status", "reason", "target_is_new")
                .annotate(n=Count("id"))
                .order_by()
            )
            totals = defaultdict(lambda: defaultdict(int))
            for row in grouped:
                key = (row["campaign_id"], row["day"])
                for column, n in counts(row["status"], row["reason"], row["target_is_new"]).items():
                    totals[key][column] += n * row["n"]
            count_model._default_manager.filter(team_id=team_id, campaign_id__in=ids).delete()
            count_model._default_manager.bulk_create(
                [
                    count_model(team_id=team_id, campaign_id=campaign_id, zone=zone_name, day=day, **values)
                    for (campaign_id, day), values in sorted(totals.items())
                ],
                batch_size=2000,
            )
