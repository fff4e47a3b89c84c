"""Request parsers of the API (DRF settings name them; kept apart from api_base to avoid an import cycle)."""

import math

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what the database cannot store, which would otherwise reach it as a 500: a NUL
    character anywhere (PostgreSQL text cannot hold one; the form-parameter case is RejectNulBytesMiddleware), and
    a number too large for a float (`1e400` parses to infinity, which neither jsonb nor an integer column takes;
    DRF's strict mode refuses only the words `Infinity` and `NaN`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        problem = _unstorable(data)
        if problem:
            raise exceptions.ParseError(problem)
        return data


def _unstorable(value):
    if isinstance(value, str):
        return "JSON strings must not contain NUL (\\u0000) characters." if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "JSON numbers must be finite (a number like 1e400 is too large)."
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _unstorable(k) or _unstorable(v))), None)
    if isinstance(value, list):
        return next((p for item in value if (p := _unstorable(item))), None)
    return None
