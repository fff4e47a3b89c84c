"""Every unique constraint of a team's table includes `team` (ARCHITECTURE.md, issue 22.8), so the tables can be
distributed by team later (Citus requires the distribution column in every unique index): a walk over every
model's unique constraints, unique_together and unique fields."""

from django.apps import apps
from django.db import models

from config.api import PRODUCT_APPS

# (model, field or constraint name): why it is unique across teams.
EXCEPTIONS = {
    ("ApiKey", "prefix"): "a request names its key by prefix before its team is known; unique among all keys",
}
PENDING = {}  # every team-owned unique constraint now includes the team


def _team_tables():
    """Every model of the product apps with a team column (the Team model itself is the tenant, not a table of
    one)."""
    for model in apps.get_models():
        if model._meta.app_label in PRODUCT_APPS and any(f.name == "team" for f in model._meta.fields):
            yield model


def _unique_sets(model):
    """(name, field names) of each uniqueness rule the model declares."""
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            yield constraint.name, set(constraint.fields) or {str(e) for e in constraint.expressions}
    for fields in model._meta.unique_together:
        yield "unique_together " + ",".join(fields), set(fields)
    for field in model._meta.fields:
        if field.unique and not field.primary_key:
            yield field.name, {field.name}


def test_every_unique_constraint_includes_team():
    lacking = [
        f"{model.__name__}: {name} {sorted(fields)}"
        for model in _team_tables()
        for name, fields in _unique_sets(model)
        if "team" not in fields and (model.__name__, name) not in EXCEPTIONS | PENDING
    ]
    assert lacking == [], "Add team to these unique constraints (or an exception with its reason)"


def test_the_exceptions_are_still_needed():
    declared = {(model.__name__, name) for model in _team_tables() for name, fields in _unique_sets(model)}
    assert set(EXCEPTIONS) | set(PENDING) <= declared
