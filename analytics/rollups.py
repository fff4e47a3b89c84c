"""Maintaining the analytics rollups from cdp's recorded events: set-based SQL, per (team, local day).

Definitions (seed 000; the README and the tests repeat them):

- Omni-customers (全渠道顧客): the active (not merged-away) customers that have at least one channel contact
  (the website channel counts). A customer made for a member id alone (events API, import, member login) is not
  one until a contact joins it. The bound / member / bound-member counts and their three ratios are counted
  within this population (kpi_counts).

- A day is a calendar day in the team's time zone; a fact belongs to the day of its event time (occurred_at,
  Binding.bound_at), whenever it arrived.
- New contacts (新聯絡人數) on a day: the `contact_created` events of that day (the first time a contact appears
  on the channel; a blocked contact following again is not new). Its source is the event's `data.source`
  (the contact's source when the event has none).
- Unsubscribes / blocks (取消訂閱數) on a day: the times a contact stopped being valid (see below) through a
  `blocked` or `unsubscribed` event of that day. People's actions, not scopes: a contact that unsubscribes from
  all three scopes at once counts once (the second and third scope find it already not valid), and so does one
  already unsubscribed from a scope that then blocks; a contact that blocks, follows again and blocks again
  counts twice. Decided on the same per-contact timeline as the valid count, in event time, so a late event
  moves the count to where it belongs.
- Total contacts (總聯絡人數) at the end of a day: all contacts created up to that day (blocked ones included) =
  the running sum of new contacts.
- Valid contact (有效聯絡人) at a time T: the contact's latest subscription event at or before T (contact_created,
  subscribed, unsubscribed, blocked; ties by event id) left it `subscribed`. The status after an event is its
  `data.status` when cdp recorded one, otherwise blocked for `blocked`, unsubscribed for `unsubscribed` and
  subscribed for `contact_created` / `subscribed`. A contact that is blocked or has any unsubscribe scope set is
  not valid; following again makes it valid again from that moment.
- Bound contact at T: the contact has a social identity binding (Binding row) with bound_at at or before T.
- Total social bindings among valid contacts (總社群身份綁定數) at the end of a day: the contacts of the channel
  that are valid AND bound at that moment. A contact that binds and later blocks counts from its binding day up
  to (not including) its block day, and again from the day it follows again. Bindings are never undone
  (an un-merge moves a binding between customers but the contact stays bound).
- Binding sources (社群身份綁定來源) on a day: the Binding rows whose bound_at falls on that day, by method.

The two state counts are stored as day-over-day deltas (`valid_delta`, `bound_valid_delta`): for every contact,
each of its state events contributes state_after - state_before, so a day's delta is the change of the count
over that day and the count at the end of a day is the sum of all deltas up to it. A late event changes the
deltas of its own day and of the days of that contact's later state events; `affected_days` finds them.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from cdp.models import Binding, Channel, Contact, Customer, CustomerEvent, EventType

from .models import BindingDay, ChannelDay, KpiSnapshot, SourceDay

STATUS_TYPES = (EventType.CONTACT_CREATED, EventType.SUBSCRIBED, EventType.UNSUBSCRIBED, EventType.BLOCKED)
DAY_TYPES = (*STATUS_TYPES, EventType.BINDING)
KPI_TYPES = (
    EventType.CONTACT_CREATED,
    EventType.BINDING,
    EventType.MEMBER_REGISTERED,
    EventType.MEMBER_LOGIN,
    EventType.MERGED,
    EventType.UNMERGED,
)

EVENTS = CustomerEvent._meta.db_table
BINDINGS = Binding._meta.db_table
CONTACTS = Contact._meta.db_table
CUSTOMERS = Customer._meta.db_table


# --- dialect helpers ------------------------------------------------------------------------------------------


def _local_date(column):
    """SQL for the calendar date of a UTC timestamp column in the zone %(tz)s."""
    if connection.vendor == "postgresql":
        return f"(({column}) AT TIME ZONE %(tz)s)::date"
    # Django registers this function on every SQLite connection (it backs TruncDate with tzinfo).
    return f"django_datetime_cast_date({column}, %(tz)s, 'UTC')"


def _json_text(column, key):
    if connection.vendor == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(value)


def _dt_param(value):
    return connection.ops.adapt_datetimefield_value(value)


def day_bounds(team, day):
    """[start, end) of a local day as aware UTC datetimes (DST-safe: midnight to next midnight)."""
    zone = team.zone
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _day_ranges(team, days):
    """Contiguous runs of local days → a list of UTC [start, end) ranges."""
    runs = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(day_bounds(team, first)[0], day_bounds(team, last)[1]) for first, last in runs]


class _Filter:
    """A WHERE fragment restricting a timestamp column to a set of local days (or everything)."""

    def __init__(self, team, days=None):
        self.ranges = None if days is None else _day_ranges(team, days)

    def sql(self, column, params, prefix):
        if self.ranges is None:
            return "1=1"
        parts = []
        for i, (start, end) in enumerate(self.ranges):
            params[f"{prefix}s{i}"] = _dt_param(start)
            params[f"{prefix}e{i}"] = _dt_param(end)
            parts.append(f"({column} >= %({prefix}s{i})s AND {column} < %({prefix}e{i})s)")
        return "(" + " OR ".join(parts) + ")" if parts else "1=0"


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _in_list(values, params, prefix):
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = str(value)
        names.append(f"%({prefix}{i})s")
    return "(" + ", ".join(names) + ")"


# --- the aggregate queries ------------------------------------------------------------------------------------


def _new_contacts(team, flt):
    """(channel_id, day) -> new contacts, from the contact_created events."""
    params = {"team": team.pk, "tz": team.time_zone}
    sql = f"""
        SELECT e.channel_id, {_local_date("e.occurred_at")} AS day, COUNT(*)
        FROM {EVENTS} e
        WHERE e.team_id = %(team)s AND e.type = 'contact_created' AND e.channel_id IS NOT NULL
          AND {flt.sql("e.occurred_at", params, "r")}
        GROUP BY 1, 2
    """
    return {(channel, _as_date(day)): new for channel, day, new in _fetch(sql, params)}


def _state_deltas(team, flt):
    """(channel_id, day) -> [valid_delta, bound_valid_delta, unsubscribes] over the contacts with state events on
    those days. An unsubscribe is a blocked / unsubscribed event that takes the contact from valid to not valid."""
    params = {"team": team.pk, "tz": team.time_zone}
    types = _in_list(STATUS_TYPES, params, "ty")
    status = (
        f"COALESCE({_json_text('e.data', 'status')}, CASE e.type WHEN 'blocked' THEN 'blocked' "
        "WHEN 'unsubscribed' THEN 'unsubscribed' ELSE 'subscribed' END)"
    )
    if flt.ranges is None:
        touched_events = touched_bindings = ""
    else:
        touched = f"""
            SELECT e.contact_id FROM {EVENTS} e
            WHERE e.team_id = %(team)s AND e.type IN {types} AND e.contact_id IS NOT NULL
              AND {flt.sql("e.occurred_at", params, "a")}
            UNION
            SELECT b.contact_id FROM {BINDINGS} b
            WHERE b.team_id = %(team)s AND {flt.sql("b.bound_at", params, "b")}
        """
        # Events after the last refreshed day cannot change its deltas: bounding the history above lets the
        # partitioned log (cdp/partitions.py) skip the later months.
        params["upper"] = _dt_param(max(end for _start, end in flt.ranges)) if flt.ranges else None
        touched_events = f"AND e.contact_id IN ({touched})" + (" AND e.occurred_at < %(upper)s" if flt.ranges else "")
        touched_bindings = f"AND b.contact_id IN ({touched})"
    sql = f"""
        WITH timeline AS (
            SELECT e.contact_id, e.occurred_at AS t, 0 AS rk, e.id AS seq,
                   CASE WHEN {status} = 'subscribed' THEN 1 ELSE 0 END AS valid_flag, 0 AS is_binding,
                   CASE WHEN e.type IN ('blocked', 'unsubscribed') THEN 1 ELSE 0 END AS leaves
            FROM {EVENTS} e
            WHERE e.team_id = %(team)s AND e.type IN {types} AND e.contact_id IS NOT NULL {touched_events}
            UNION ALL
            SELECT b.contact_id, b.bound_at, 1, b.id, NULL, 1, 0
            FROM {BINDINGS} b
            WHERE b.team_id = %(team)s {touched_bindings}
        ),
        ordered AS (
            SELECT contact_id, t, rk, seq, valid_flag, leaves,
                   COUNT(valid_flag) OVER w AS grp,
                   MAX(is_binding) OVER w AS bound
            FROM timeline
            WINDOW w AS (PARTITION BY contact_id ORDER BY t, rk, seq ROWS UNBOUNDED PRECEDING)
        ),
        states AS (
            SELECT contact_id, t, rk, seq, bound, leaves,
                   COALESCE(MAX(valid_flag) OVER (PARTITION BY contact_id, grp), 0) AS valid
            FROM ordered
        ),
        deltas AS (
            SELECT contact_id, t, leaves,
                   valid - LAG(valid, 1, 0) OVER w2 AS d_valid,
                   valid * bound - LAG(valid * bound, 1, 0) OVER w2 AS d_bound_valid
            FROM states
            WINDOW w2 AS (PARTITION BY contact_id ORDER BY t, rk, seq)
        )
        SELECT c.channel_id, {_local_date("d.t")} AS day, SUM(d.d_valid), SUM(d.d_bound_valid),
               SUM(CASE WHEN d.d_valid < 0 AND d.leaves = 1 THEN 1 ELSE 0 END)
        FROM deltas d JOIN {CONTACTS} c ON c.id = d.contact_id
        WHERE (d.d_valid <> 0 OR d.d_bound_valid <> 0) AND {flt.sql("d.t", params, "r")}
        GROUP BY 1, 2
    """
    return {(channel, _as_date(day)): [dv, dbv, unsub] for channel, day, dv, dbv, unsub in _fetch(sql, params)}


def _source_counts(team, flt):
    params = {"team": team.pk, "tz": team.time_zone}
    sql = f"""
        SELECT e.channel_id, {_local_date("e.occurred_at")} AS day,
               COALESCE({_json_text("e.data", "source")}, c.source, 'organic') AS src, COUNT(*)
        FROM {EVENTS} e LEFT JOIN {CONTACTS} c ON c.id = e.contact_id
        WHERE e.team_id = %(team)s AND e.type = 'contact_created' AND e.channel_id IS NOT NULL
          AND {flt.sql("e.occurred_at", params, "r")}
        GROUP BY 1, 2, 3
    """
    return _fetch(sql, params)


def _binding_counts(team, flt):
    params = {"team": team.pk, "tz": team.time_zone}
    sql = f"""
        SELECT c.channel_id, {_local_date("b.bound_at")} AS day, b.method, COUNT(*)
        FROM {BINDINGS} b JOIN {CONTACTS} c ON c.id = b.contact_id
        WHERE b.team_id = %(team)s AND {flt.sql("b.bound_at", params, "r")}
        GROUP BY 1, 2, 3
    """
    return _fetch(sql, params)


# --- computing and writing ------------------------------------------------------------------------------------


@dataclass
class Rows:
    channel_days: list
    source_days: list
    binding_days: list


def compute(team, days=None):
    """The rollup rows for the given local days (all days when None), straight from events and bindings."""
    flt = _Filter(team, days)
    if flt.ranges == []:
        return Rows([], [], [])
    merged = {}
    for key, new in _new_contacts(team, flt).items():
        merged.setdefault(key, [0, 0, 0, 0])[0] = int(new)
    for key, (dv, dbv, unsub) in _state_deltas(team, flt).items():
        merged.setdefault(key, [0, 0, 0, 0])[1:4] = [int(unsub), int(dv), int(dbv)]
    wanted = None if days is None else set(days)
    channel_days = [
        ChannelDay(
            team=team,
            channel_id=channel,
            day=day,
            new_contacts=v[0],
            unsubscribes=v[1],
            valid_delta=v[2],
            bound_valid_delta=v[3],
        )
        for (channel, day), v in merged.items()
        if any(v) and (wanted is None or day in wanted)
    ]
    source_days = [
        SourceDay(team=team, channel_id=channel, day=_as_date(day), source=source, count=count)
        for channel, day, source, count in _source_counts(team, flt)
    ]
    binding_days = [
        BindingDay(team=team, channel_id=channel, day=_as_date(day), method=method, count=count)
        for channel, day, method, count in _binding_counts(team, flt)
    ]
    return Rows(channel_days, source_days, binding_days)


def _lock_team(team):
    """Serialise rollup writers of one team (PostgreSQL advisory lock held to commit): two consumers refreshing
    the same day would otherwise both delete, then collide on insert."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x616E61, team.pk])


@transaction.atomic
def refresh_days(team, days):
    """Recompute the rollups of these local days of one team (delete + insert in one transaction)."""
    days = sorted(set(days))
    if not days:
        return 0
    _lock_team(team)
    rows = compute(team, days)
    for model in (ChannelDay, SourceDay, BindingDay):
        model.objects.filter(team=team, day__in=days).delete()
    _insert(rows)
    return len(days)


@transaction.atomic
def rebuild(team):
    """Recompute every rollup of one team from scratch. Idempotent."""
    _lock_team(team)
    rows = compute(team)
    for model in (ChannelDay, SourceDay, BindingDay):
        model.objects.filter(team=team).delete()
    _insert(rows)
    refresh_kpis(team)
    return rows


def _insert(rows):
    ChannelDay.objects.bulk_create(rows.channel_days, batch_size=5000)
    SourceDay.objects.bulk_create(rows.source_days, batch_size=5000)
    BindingDay.objects.bulk_create(rows.binding_days, batch_size=5000)


def kpi_counts(team):
    """One aggregate over the team's omni-customers: active (not merged-away) customers with a channel contact.

    A customer the events API or an import made for a member id alone (no contact yet) is not one until a contact
    joins it (a contact_created, binding or merge event then refreshes the snapshot). The EXISTS is one probe of
    the contact_team_customer index (team, customer) per customer."""
    sql = f"""
        SELECT COUNT(*),
               SUM(CASE WHEN cu.is_bound THEN 1 ELSE 0 END),
               SUM(CASE WHEN cu.is_member THEN 1 ELSE 0 END),
               SUM(CASE WHEN cu.is_bound AND cu.is_member THEN 1 ELSE 0 END)
        FROM {CUSTOMERS} cu
        WHERE cu.team_id = %(team)s AND cu.merged_into_id IS NULL
          AND EXISTS (SELECT 1 FROM {CONTACTS} ct WHERE ct.team_id = %(team)s AND ct.customer_id = cu.id)
    """
    total, bound, members, both = _fetch(sql, {"team": team.pk})[0]
    return {
        "omni_customers": int(total or 0),
        "bound_customers": int(bound or 0),
        "members": int(members or 0),
        "bound_members": int(both or 0),
    }


def refresh_kpis(team):
    values = kpi_counts(team)
    KpiSnapshot.objects.update_or_create(team=team, defaults={**values, "computed_at": timezone.now()})
    return values


# --- incremental: which days a batch of events touches ----------------------------------------------------------


def affected_days(team, event_ids):
    """Local days whose rollups the given events change.

    The days of the events themselves, plus, for the contacts those events concern, the days of their later
    state events and bindings (a late event changes that contact's state from its time until its next change).
    """
    params = {"team": team.pk, "tz": team.time_zone}
    ids = [int(pk) for pk in event_ids]
    if not ids:
        return set()
    which = _id_filter(ids, params)
    types = _in_list(DAY_TYPES, params, "ty")
    own = f"""
        SELECT DISTINCT {_local_date("e.occurred_at")} FROM {EVENTS} e
        WHERE e.team_id = %(team)s AND {which} AND e.type IN {types}
    """
    days = {_as_date(row[0]) for row in _fetch(own, params)}
    if not days:
        return days
    later = f"""
        WITH firsts AS (
            SELECT e.contact_id, MIN(e.occurred_at) AS since FROM {EVENTS} e
            WHERE e.team_id = %(team)s AND {which} AND e.type IN {types} AND e.contact_id IS NOT NULL
            GROUP BY e.contact_id
        )
        SELECT DISTINCT {_local_date("e.occurred_at")} FROM {EVENTS} e JOIN firsts f ON f.contact_id = e.contact_id
        WHERE e.team_id = %(team)s AND e.type IN {types} AND e.occurred_at > f.since
        UNION
        SELECT DISTINCT {_local_date("b.bound_at")} FROM {BINDINGS} b JOIN firsts f ON f.contact_id = b.contact_id
        WHERE b.team_id = %(team)s AND b.bound_at > f.since
    """
    days |= {_as_date(row[0]) for row in _fetch(later, params)}
    return days


# Past this many ids a batch is read as the id range it spans (a superset within the team: the days of the team's
# other events in that range are refreshed too, which is correct, only more work). An import's hand-offs coalesce
# into batches of several hundred thousand ids, and each batch refreshes its days once.
ID_RANGE_ABOVE = 5000


def _by_range(ids):
    """A large batch is read as its id range only when its ids are dense (an import's or a hand-off's contiguous
    inserts). Sparse ids (one day's events of data written out of time order) would make the range every event of
    the team: PostgreSQL then reads them as one array parameter instead (bench scaling: 37 s → see README)."""
    if len(ids) <= ID_RANGE_ABOVE:
        return False
    dense = max(ids) - min(ids) + 1 <= 4 * len(ids)
    return dense or connection.vendor != "postgresql"


def _id_filter(ids, params):
    if _by_range(ids):
        params["id_lo"], params["id_hi"] = min(ids), max(ids)
        return "e.id BETWEEN %(id_lo)s AND %(id_hi)s"
    if len(ids) > ID_RANGE_ABOVE:
        params["id_array"] = list(ids)
        return "e.id = ANY(%(id_array)s)"
    return f"e.id IN {_in_list(ids, params, 'id')}"


def on_events(team, event_ids):
    """Apply a batch of recorded events: refresh the touched days, and the KPIs when identities changed."""
    ids = list(event_ids)
    days = affected_days(team, ids)
    refresh_days(team, days)
    identities = CustomerEvent.objects.filter(team=team, type__in=KPI_TYPES)
    if _by_range(ids):
        identities = identities.filter(pk__gte=min(ids), pk__lte=max(ids))
    else:
        identities = identities.filter(pk__in=ids)
    if identities.exists():
        refresh_kpis(team)
    return days


# --- verification ---------------------------------------------------------------------------------------------


def verify(team):
    """Compare the stored rollups with a fresh recompute and with direct counts. Returns a list of problems."""
    problems = []
    fresh = compute(team)

    stored_channel_days = {
        (channel, day): tuple(values)
        for channel, day, *values in ChannelDay.objects.filter(team=team).values_list(
            "channel_id", "day", "new_contacts", "unsubscribes", "valid_delta", "bound_valid_delta"
        )
    }
    expected = {
        (r.channel_id, r.day): (r.new_contacts, r.unsubscribes, r.valid_delta, r.bound_valid_delta)
        for r in fresh.channel_days
    }
    _diff(problems, "channel_day", stored_channel_days, expected)
    stored_sources = {
        (channel, day, source): count
        for channel, day, source, count in SourceDay.objects.filter(team=team).values_list(
            "channel_id", "day", "source", "count"
        )
    }
    _diff(problems, "source_day", stored_sources, {(r.channel_id, r.day, r.source): r.count for r in fresh.source_days})
    stored_bindings = {
        (channel, day, method): count
        for channel, day, method, count in BindingDay.objects.filter(team=team).values_list(
            "channel_id", "day", "method", "count"
        )
    }
    _diff(
        problems, "binding_day", stored_bindings, {(r.channel_id, r.day, r.method): r.count for r in fresh.binding_days}
    )

    # Direct counts of the current state against the sums of the rollups.
    sums = {
        row["channel_id"]: row
        for row in ChannelDay.objects.filter(team=team)
        .values("channel_id")
        .annotate(total=Sum("new_contacts"), valid=Sum("valid_delta"), bound_valid=Sum("bound_valid_delta"))
    }
    bound = Exists(Binding.objects.filter(contact=OuterRef("pk")))
    direct = (
        Contact.objects.for_team(team)
        .values("channel_id")
        .annotate(
            total=Count("pk"),
            valid=Count("pk", filter=Q(status="subscribed")),
            bound_valid=Count("pk", filter=Q(status="subscribed") & Q(bound)),
        )
    )
    direct = {row["channel_id"]: row for row in direct}
    for channel_id in Channel.objects.for_team(team).values_list("pk", flat=True):
        for key in ("total", "valid", "bound_valid"):
            want = (direct.get(channel_id) or {}).get(key) or 0
            got = (sums.get(channel_id) or {}).get(key) or 0
            if want != got:
                problems.append(f"channel {channel_id} {key}: contacts table says {want}, rollups say {got}")
    kpis = kpi_counts(team)
    snapshot = KpiSnapshot.objects.filter(team=team).first()
    if snapshot is not None:
        for key, value in kpis.items():
            if getattr(snapshot, key) != value:
                problems.append(f"kpi {key}: customers table says {value}, snapshot says {getattr(snapshot, key)}")
    return problems


def _diff(problems, name, stored, expected):
    for key in sorted(set(stored) | set(expected), key=str):
        if stored.get(key) != expected.get(key):
            problems.append(f"{name} {key}: stored {stored.get(key)}, recomputed {expected.get(key)}")
