"""Request parsers of the API (DRF settings name them; kept apart from api_base to avoid an import cycle)."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a NUL character anywhere in the body: PostgreSQL text cannot store one, so it
    would otherwise reach the database as a 500 (the form-parameter case is RejectNulBytesMiddleware)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _contains_nul(data):
            raise exceptions.ParseError("JSON strings must not contain NUL (\\u0000) characters.")
        return data


def _contains_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False
