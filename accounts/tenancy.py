"""The one helper that scopes a query to a team. Views, API views, tasks and exports all use it."""

from django.db import models


def for_team(model_or_queryset, team):
    if team is None:
        raise ValueError("A team is required to scope this query.")
    queryset = model_or_queryset
    if isinstance(model_or_queryset, type) and issubclass(model_or_queryset, models.Model):
        queryset = model_or_queryset._default_manager.all()
    return queryset.filter(team=team)
