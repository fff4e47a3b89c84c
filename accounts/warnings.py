"""Sticky-bar warnings (e.g. low balance). Apps register a provider: provider(request, team) -> list of dicts
with 'level' ('warning' | 'danger'), 'message' and optionally 'url'. Providers must be cheap (one query at most)."""

_providers = []


def register(provider):
    _providers.append(provider)
    return provider


def collect(request, team):
    warnings = []
    for provider in _providers:
        warnings.extend(provider(request, team) or [])
    return warnings
