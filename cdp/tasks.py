import logging

from accounts import queues
from accounts.models import Team

from . import quota

logger = logging.getLogger(__name__)


def refresh_quota(team_id):
    team = Team.objects.filter(pk=team_id).first()
    if team is not None:
        quota.refresh_over_quota(team)


def on_bulk_tags(team_id, action, payload):
    """The hand-off consumer (topic "bulk_tags"): the row is deleted in the transaction that applies it, so the
    action is done once, or not at all and still pending."""
    bulk_tags(team_id, action, payload["name"], payload["filters"])


def bulk_tags(team_id, action, name, filter_data):
    """A bulk tag action on every customer matching the list's filters, too many to run in the request (views.bulk).
    The filters are applied again here, so customers that match by now are the ones changed."""
    from django.http import QueryDict

    from .filters import CustomerFilter
    from .services import tags

    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    data = QueryDict(mutable=True)
    for key, values in filter_data.items():
        data.setlist(key, values)
    customer_filter = CustomerFilter(data, team=team)
    if not customer_filter.is_valid():  # checked in the request; a filter option removed since then
        logger.warning(
            "bulk %s of team %s skipped: filters no longer valid: %s", action, team_id, customer_filter.errors
        )
        return 0
    change = tags.add_tags_bulk if action == "add_tag" else tags.remove_tags_bulk
    return change(team=team, customer_ids=customer_filter.qs, names=[name], source="console")


def run_import(job_id):
    """A CSV import too large to run in the request; idempotent (a claimed or finished job is left alone)."""
    from . import imports

    imports.run(job_id)


def resume_import(job_id):
    """Take over a running import whose worker died (no heartbeat): carries on after its last committed chunk."""
    from . import imports

    imports.run(job_id, resume=True)


def resume_stalled_imports():
    """Every minute (heavy cluster): imports whose start task was lost or whose worker died are run again."""
    from . import imports

    return imports.resume_stalled()


SCHEDULES = [("cdp: stalled imports", "cdp.tasks.resume_stalled_imports")]


def maintain_event_partitions():
    """Daily (heavy cluster): the event log's next months' partitions, then the teams' retention (cdp/partitions.py)."""
    from . import partitions

    return partitions.maintain()


def ensure_schedules(**kwargs):
    for name, func in SCHEDULES:
        queues.ensure_schedule(name, func)
    queues.ensure_schedule("cdp: event log partitions", "cdp.tasks.maintain_event_partitions", schedule_type="D")
