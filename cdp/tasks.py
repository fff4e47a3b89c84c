from accounts.models import Team

from . import quota


def refresh_quota(team_id):
    team = Team.objects.filter(pk=team_id).first()
    if team is not None:
        quota.refresh_over_quota(team)


def run_import(job_id):
    """A CSV import too large to run in the request; idempotent (a claimed or finished job is left alone)."""
    from . import imports

    imports.run(job_id)
