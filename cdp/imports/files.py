"""The uploaded file: create the job, sniff and read the CSV, preview it, and the error report."""

import codecs
import csv
import io
import uuid
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from core.csv_lines import BOM, CsvLines
from core.errors import ServiceError
from core.i18n import translate_stored

from ..models import (
    ImportJob,
    ImportKind,
    ImportStatus,
)

PREVIEW_ROWS = 5


SNIFF_BYTES = 64 * 1024


NUL = "\x00"


class ImportFileError(ServiceError):
    """The file cannot be read as CSV (encoding, empty, no header)."""

    default_code = "import_file_invalid"


@dataclass
class Preview:
    headers: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    total_rows: int = 0
    delimiter: str = ","
    error: str = ""  # the console shows the ImportFileError preview() raised


def create_job(*, team, upload, channel, user=None, kind=ImportKind.CUSTOMERS):
    job = ImportJob(team=team, kind=kind, channel=channel, original_name=upload.name[:255], created_by=user)
    job.file.save(f"{team.pk}/{uuid.uuid4().hex}.csv", upload, save=False)
    job.save()
    return job


def _open(job):
    """(csv reader, headers) for the job's file; raises ImportFileError with a message a marketer can act on."""
    return open_csv(job.file.open("rb"))


def open_csv(raw):
    """(csv reader, headers, dialect) of a binary file object, read as every import reads CSV (UTF-8 with or
    without BOM, sniffed delimiter, strict quotes); also used by coupons' code import."""
    raw.seek(0)
    sample_bytes = raw.read(SNIFF_BYTES)
    raw.seek(0)
    if not sample_bytes.strip():
        raise ImportFileError(_("檔案是空的。"), code="empty_file")
    sample = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    try:
        text_sample = sample.decode(sample_bytes, final=False)
    except UnicodeDecodeError:
        raise ImportFileError(_("檔案不是 UTF-8 編碼：請在 Excel 另存為「CSV UTF-8（逗號分隔）」。"), code="not_utf8")
    try:
        dialect = csv.Sniffer().sniff("\n".join(text_sample.splitlines()[:20]), delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    # Strict, with quotes doubled as Excel writes them (the sniffer guesses doublequote from the sample only): a
    # quote never closed is an error at the end of the file, not a last field that swallowed the rows after it.
    reader = csv.reader(text, dialect, strict=True, doublequote=True)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError(_("檔案是空的。"), code="empty_file")
    except UnicodeDecodeError:
        raise ImportFileError(_("檔案不是 UTF-8 編碼：請在 Excel 另存為「CSV UTF-8（逗號分隔）」。"), code="not_utf8")
    except csv.Error as exc:
        raise ImportFileError(_("第 1 列不是有效的 CSV（%(error)s）。") % {"error": exc}, code="not_csv")
    if any(NUL in h for h in headers):
        raise ImportFileError(_("第一列含有 NUL 字元：檔案不是文字 CSV。"), code="not_csv")
    if not any(headers):
        raise ImportFileError(_("第一列必須是欄位名稱。"), code="no_header")
    if len(set(headers)) != len(headers):
        raise ImportFileError(
            _("欄位名稱重複：%(names)s") % {"names": ", ".join(sorted({h for h in headers if headers.count(h) > 1}))}
        )
    return reader, headers, dialect


def rows(reader):
    """(row number as Excel shows it, cells); blank lines are skipped. Decoding errors name the row."""
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise ImportFileError(_("第 %(row)s 列之後的內容不是 UTF-8 編碼。") % {"row": number}, code="not_utf8")
        except csv.Error as exc:
            # e.g. a quote that is never closed swallows the rest of the file into one oversized field
            message = _("第 %(row)s 列之後不是有效的 CSV（%(error)s）：請檢查未成對的引號。")
            raise ImportFileError(message % {"row": number + 1, "error": exc}, code="not_csv")
        number += 1
        if any(cell.strip() for cell in cells):
            yield number, cells


_rows = rows


def preview(job):
    """The file's headers, first rows and row count; raises ImportFileError when it cannot be read as CSV."""
    try:
        reader, headers, dialect = _open(job)
        rows, total = [], 0
        for _number, cells in _rows(reader):
            total += 1
            if len(rows) < PREVIEW_ROWS:
                rows.append(cells + [""] * (len(headers) - len(cells)))
    finally:
        job.file.close()
    return Preview(headers=headers, rows=rows, total_rows=total, delimiter=dialect.delimiter)


def file_error(message):
    """The error report's entry for the whole file (row 0)."""
    return {"row": 0, "errors": {"": [message]}, "values": {}}


def _file_headers(job):
    """The file's columns in their order: a row's cells come back from PostgreSQL's jsonb in its own key order."""
    try:
        return _open(job)[1]
    except (ImportFileError, OSError, ValueError):  # the file is gone, or was never CSV
        return []
    finally:
        job.file.close()


def percent(job):
    if job.status == ImportStatus.DONE:
        return 100
    return min(100, round(100 * job.processed_rows / job.total_rows)) if job.total_rows else 0


def error_report(job):
    """The per-row error report as CSV lines (UTF-8 with BOM): row, column, message, then the row's cells. Notes
    (a row applied to the same contact as an earlier row) come in row order too, their message marked 說明. The
    stored messages (in the source language) are translated into the reader's."""

    lines = CsvLines()
    headers = []
    for entry in job.errors:
        for column in entry.get("values", {}):
            if column not in headers:
                headers.append(column)
    in_file = _file_headers(job) if headers else []
    headers = [h for h in in_file if h in headers] + [h for h in headers if h not in in_file]
    yield BOM + lines.row([_("列號"), _("欄位"), _("錯誤"), *headers])
    for entry in job.errors:
        values = entry.get("values", {})
        cells = [values.get(h, "") for h in headers]
        for column, messages in entry.get("errors", {}).items():
            yield lines.row([entry["row"], column, " ".join(map(translate_stored, messages)), *cells])
        for column, messages in entry.get("notes", {}).items():  # applied rows, reported for information
            yield lines.row([entry["row"], column, _("說明：") + " ".join(map(translate_stored, messages)), *cells])
