"""CSV for spreadsheets, one way for every download: lines as strings (for StreamingHttpResponse), UTF-8 with a BOM
so Excel reads the Chinese right, and cells that a spreadsheet would run as formulas defused."""

import csv
import re

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[\d\s().,-]{1,39}")  # +886 912-345-678, -3.5: short, no nested repetition


def safe_cell(value):
    """Text Excel or Google Sheets would read as a formula (a customer can type `=HYPERLINK(...)` into a chat or a
    CSV cell) gets a leading apostrophe, OWASP's advice for CSV injection; numbers and phone numbers such as
    +886912345678 are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(value):
    return _NUMBER.fullmatch(value) is not None and any(ch.isdigit() for ch in value)


class _Echo:
    def write(self, value):
        return value


class CsvLines:
    """`lines.row(cells)` returns one CSV line as a string."""

    def __init__(self):
        self._writer = csv.writer(_Echo())

    def row(self, cells):
        return self._writer.writerow([safe_cell(cell) for cell in cells])
