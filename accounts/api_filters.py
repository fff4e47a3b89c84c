"""The API's filter backend (DRF settings name it; kept apart from api_base to avoid an import cycle)."""

from django_filters.rest_framework import DjangoFilterBackend

from .tenancy import for_team, has_team


class TeamFilterBackend(DjangoFilterBackend):
    """django-filter with every object filter (`?contact=`, `?channel=`) choosing among the caller's team's
    objects: another team's id is a 400 like a nonexistent id, not an empty page (issue 22.5)."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None and getattr(request, "auth", None) is not None:
            for query_filter in filterset.filters.values():
                choices = getattr(query_filter, "queryset", None)
                if choices is not None and not callable(choices) and has_team(choices.model):
                    query_filter.queryset = for_team(choices, request.auth.team)
        return filterset
