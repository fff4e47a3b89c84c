"""The one helper that scopes a query to a team. Views, API views, tasks and exports all use it."""

from django.db import models


def for_team(model_or_queryset, team):
    if team is None:
        raise ValueError("A team is required to scope this query.")
    queryset = model_or_queryset
    if isinstance(model_or_queryset, type) and issubclass(model_or_queryset, models.Model):
        queryset = model_or_queryset._default_manager.all()
    return queryset.filter(team=team)


def has_team(model):
    """Whether the model's rows belong to a team (a `team` column)."""
    return any(field.name == "team" for field in model._meta.fields)


def get_for_team_or_404(model_or_queryset, team, pk):
    """The team's row with this primary key, or 404 — also for a pk that is missing or not a number (never a 500)."""
    from django.http import Http404

    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such object.") from None
    obj = for_team(model_or_queryset, team).filter(pk=pk).first()
    if obj is None:
        raise Http404("No such object.")
    return obj
