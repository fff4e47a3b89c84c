"""Reading ids out of query parameters, form fields and JSON values."""

MAX_ID = 2**63 - 1


def parse_id(value):
    """A non-negative integer id, or None for anything else.

    `str.isdigit()` is not the test: "²" is a digit to Python and a ValueError to `int()`; "12.7" or the JSON
    number 1e400 (infinity) are not ids either; and an id beyond a bigint is an error on PostgreSQL.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_ID else None
    if isinstance(value, str):
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= 19:
            number = int(value)
            return number if number <= MAX_ID else None
    return None


def parse_signed(value):
    """An integer written with an optional sign ("-50", "+100", "7"), or None; the digits are read as parse_id."""
    if isinstance(value, str):
        value = value.strip()
        sign = -1 if value.startswith("-") else 1
        number = parse_id(value[1:] if value[:1] in "+-" and value[1:2] not in "+-" else value)
        return None if number is None else sign * number
    return None
