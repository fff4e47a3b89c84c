"""The JSON schema of the condition language (``json_schema``, ``openapi_schema``)."""

from cdp.models import ContactSource

from .language import (
    ATTRIBUTE_OPS,
    COMPARE_OPS,
    COUPON_OPS,
    GROUP_OPS,
    POINTS_TYPES,
    PROFILE_TYPES,
    TIME_OPS,
    TIME_TYPES,
)

# ------------------------------------------------------------------------------------------------ JSON schema


def _cond(kind, properties, required):
    return {
        "type": "object",
        "title": kind,
        "properties": {"type": {"type": "string", "enum": [kind]}, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


def _time_condition(kind):
    return _cond(
        kind,
        {
            "op": {"type": "string", "enum": list(TIME_OPS)},
            "days": {"type": "integer", "minimum": 1, "description": "within_last_days / more_than_days_ago"},
            "value": {
                "description": 'before / after: "YYYY-MM-DD"; between: ["YYYY-MM-DD", "YYYY-MM-DD"] (team time zone)',
                "oneOf": [
                    {"type": "string", "format": "date"},
                    {"type": "array", "items": {"type": "string", "format": "date"}, "minItems": 2, "maxItems": 2},
                ],
            },
        },
        ["op"],
    )


def condition_schemas():
    """JSON schemas of every condition type (used in the OpenAPI schema and the README)."""
    number = {"oneOf": [{"type": "number"}, {"type": "string"}]}
    all_attribute_ops = sorted({op for ops in ATTRIBUTE_OPS.values() for op in ops})
    schemas = [
        _cond(
            "tag",
            {
                "op": {"type": "string", "enum": ["has", "has_not"]},
                "match": {"type": "string", "enum": ["any", "all"], "default": "any"},
                "tags": {"type": "array", "minItems": 1, "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
            },
            ["op", "tags"],
        ),
        _cond(
            "attribute",
            {
                "key": {"type": "string"},
                "op": {"type": "string", "enum": all_attribute_ops, "description": "allowed ops depend on the type"},
                "value": {
                    "description": "text, number, date, [min, max] or days, by op",
                    "oneOf": [
                        {"type": "string"},
                        {"type": "number"},
                        {"type": "array", "items": number},
                    ],
                },
            },
            ["key", "op"],
        ),
    ]
    for kind in PROFILE_TYPES:
        schemas.append(
            _cond(
                kind,
                {"op": {"type": "string", "enum": ["equals", "is_set", "not_set"]}, "value": {"type": "string"}},
                ["op"],
            )
        )
    schemas += [_time_condition(kind) for kind in TIME_TYPES]
    schemas.append(_cond("binding", {"bound": {"type": "boolean"}}, ["bound"]))
    for kind in POINTS_TYPES:
        schemas.append(
            _cond(
                kind,
                {
                    "op": {"type": "string", "enum": list(COMPARE_OPS)},
                    "value": {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
                },
                ["op", "value"],
            )
        )
    schemas.append(
        _cond(
            "source",
            {
                "op": {"type": "string", "enum": ["in", "not_in"]},
                "values": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ContactSource.values}},
            },
            ["op", "values"],
        )
    )
    schemas.append(
        _cond(
            "coupon",
            {"op": {"type": "string", "enum": list(COUPON_OPS)}, "campaign": {"type": "integer"}},
            ["op", "campaign"],
        )
    )
    schemas.append(
        _cond(
            "channel",
            {
                "op": {"type": "string", "enum": ["has_contact", "has_no_contact"]},
                "channels": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
            },
            ["op", "channels"],
        )
    )
    return schemas


def json_schema():
    """The full JSON schema (draft 2020-12) of a condition tree, recursive through $defs."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/group",
        "$defs": {
            "group": {
                "type": "object",
                "properties": {
                    "op": {"type": "string", "enum": list(GROUP_OPS)},
                    "children": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": [{"$ref": "#/$defs/group"}, *condition_schemas()]},
                    },
                },
                "required": ["op", "children"],
                "additionalProperties": False,
            }
        },
    }


def openapi_schema():
    """An OpenAPI 3 inline version (nested groups one level deep are described; deeper nesting is allowed)."""
    nested = {
        "type": "object",
        "description": "a nested group {op, children} (any depth up to 6)",
        "properties": {"op": {"type": "string", "enum": list(GROUP_OPS)}, "children": {"type": "array", "items": {}}},
        "required": ["op", "children"],
    }
    return {
        "type": "object",
        "description": "A condition tree: nested AND / OR groups of conditions. See audiences/README.md.",
        "properties": {
            "op": {"type": "string", "enum": list(GROUP_OPS)},
            "children": {"type": "array", "minItems": 1, "items": {"oneOf": [nested, *condition_schemas()]}},
        },
        "required": ["op", "children"],
        "example": {
            "op": "and",
            "children": [
                {"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]},
                {"type": "last_customer_interaction", "op": "within_last_days", "days": 30},
            ],
        },
    }
