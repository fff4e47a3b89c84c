"""Points import (社群點數): each row of the file is one change of an existing customer's points, written to the
ledger by cdp.services.points (source `import`). The same upload, job, progress and error report as the customer
import; only reading a row and writing a chunk differ.

Columns: a customer reference (the key column: member id, phone or email; the other two may be mapped too) matched
as the member import matches (identity's rules: member id first, then phone / email by the team's switches), a
non-zero integer `points` (negative deducts) and an optional `reason`. Customers are never created here.

A chunk's customers are looked up in one query. The ledger locks one customer per change, so each row is one
adjust_points call, all of the chunk's in one transaction with its progress, in customer id order (a customer's
rows stay in file order: the same outcome as the file order, and no deadlock with another import). A row whose
customer is not found, whose points are not a non-zero integer, or whose deduction would take the balance below
zero (unless the team allows it) is a row error and changes nothing; the other rows go in. Each row's idempotency
key is `import:<job id>:<row number>`, so a job run again (a chunk replayed, a resumed worker) changes nothing twice.
"""

import logging

from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _

from core.errors import ServiceError
from core.params import parse_signed

from ..events import batched_notifications
from ..models import PointsSource
from ..services import identity, points
from .importer import Importer, Row

# Rows per chunk: one ledger call (about nine statements with its savepoints) per row, in a transaction that holds
# the chunk's customer locks until it commits; 500 rows keep that to a second or two and the progress bar moving.
POINTS_CHUNK = 500

REFERENCE_KINDS = ("member_id", "phone", "email")


logger = logging.getLogger(__name__)


class PointsImporter(Importer):
    """The customer import's run loop, reading and report; rows parsed as points changes, chunks written to the
    ledger."""

    def __init__(self, job):
        super().__init__(job)
        self.chunk_size = POINTS_CHUNK
        self.points_column = next(c for c, t in self.columns.items() if t == "points")
        # The columns that name the customer, in the order a row's error names the first non-empty one.
        self.reference_columns = [self.key_column] + [c for c, t in self.columns.items() if t in REFERENCE_KINDS]

    def load_targets(self):
        """A points file writes no tags or attributes: nothing to read."""
        self.attributes, self.archived_tags = {}, set()

    # Validation ------------------------------------------------------------------------------------------

    def parse(self, number, headers, cells):
        row = super().parse(number, headers, cells)
        if not isinstance(row, Row):
            return row
        errors = {}
        if not (row.key or row.phone or row.email):
            errors[self.key_column] = [_("需要會員編號、電話或 Email 其中之一。")]
        if not row.points:  # an empty cell (the base parse skips empty cells)
            errors[self.points_column] = [_("必填。")]
        return (number, errors, row.values) if errors else row

    def _key(self, raw):
        if not raw:
            return ""  # another reference column may name the customer (parse checks one does)
        if self.key_kind == "email":
            return self._email(raw)
        return super()._key(raw)  # member id (length) or phone (E.164 with the team's region)

    def _apply_target(self, row, target, raw):
        if target == "points":
            value = parse_signed(raw)
            points.check_delta(raw if value is None else value)  # the ledger's rule for an amount
            row.points = value
        elif target == "reason":
            row.reason = raw
        else:  # phone, email (a member id column is always the key column: the mapping puts it first)
            super()._apply_target(row, target, raw)

    def identity(self, row):
        """The row's customer reference as identity's matcher reads it."""
        fields = {"member_id": "", "phone": row.phone, "email": row.email}
        if row.key:
            fields[self.key_kind] = row.key
        return identity.Identity(**fields)

    # Writing ---------------------------------------------------------------------------------------------

    def chunk(self, read, rows, errors):
        """Look the chunk's customers up in one query, then one ledger change per row (see the module docs)."""
        idents = [self.identity(row) for row in rows]
        index = identity.CustomerIndex.read(self.team, idents)
        entries, targets = list(errors), []
        for row, ident in zip(rows, idents, strict=True):
            customer = index.resolve(ident)
            if customer is None:
                entries.append((row.number, {self.reference_column(row): [_("找不到這位顧客。")]}, row.values))
            else:
                targets.append((customer, row))
        targets.sort(key=lambda target: target[0].pk)  # stable: a customer's rows keep their file order
        state = (self.error_count, len(self.errors), self.saved_errors)
        try:
            with transaction.atomic(), batched_notifications():
                refused = [entry for entry in (self.change(*target) for target in targets) if entry]
                self.record(entries + refused)
                self.save_progress(self.processed + read, self.applied + len(targets) - len(refused))
        except DatabaseError:
            # The chunk's transaction failed (a deadlock with another writer, say): undo its report and apply the
            # rows one by one, each in its own transaction. The keys keep a row that was in from changing twice.
            self.error_count, kept, self.saved_errors = state
            del self.errors[kept:]
            refused = []
            for customer, row in targets:
                try:
                    with transaction.atomic(), batched_notifications():
                        entry = self.change(customer, row)
                except DatabaseError:
                    logger.exception("points import %s: row %s could not be written", self.job.pk, row.number)
                    message = _(
                        "資料庫暫時無法寫入這一列，請重新匯入這一列。"
                    )  # the database's own words stay in the log
                    entry = (row.number, {self.points_column: [message]}, row.values)
                if entry:
                    refused.append(entry)
            self.record(entries + refused)
            self.save_progress(self.processed + read, self.applied + len(targets) - len(refused))
        self.applied += len(targets) - len(refused)
        self.processed += read

    def change(self, customer, row):
        """One ledger change; the error report's entry when the ledger refuses it (nothing written), else None."""
        try:
            points.adjust_points(
                customer=customer,
                delta=row.points,
                reason=row.reason,
                source=PointsSource.IMPORT,
                idempotency_key=f"import:{self.job.pk}:{row.number}",
            )
        except ServiceError as exc:
            column = self.points_column if exc.field == "delta" else self.reference_column(row)
            return row.number, {column: exc.messages}, row.values
        return None

    def record(self, entries):
        for entry in sorted(entries, key=lambda entry: entry[0]):
            self.error(*entry)

    def reference_column(self, row):
        """The first reference column the row fills: where its customer's errors are reported."""
        return next((c for c in self.reference_columns if row.values.get(c)), self.key_column)
