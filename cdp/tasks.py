from accounts.models import Team

from . import quota


def refresh_quota(team_id):
    team = Team.objects.filter(pk=team_id).first()
    if team is not None:
        quota.refresh_over_quota(team)
