"""Running an import job: start, run (chunk after chunk, resumable) and the Importer that writes rows."""

import functools
import itertools
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts import queues

from ..events import announce, batched_notifications
from ..models import (
    AttributeValue,
    ChannelKind,
    Contact,
    ContactSource,
    CustomAttribute,
    Customer,
    CustomerEvent,
    CustomerTag,
    EventType,
    ImportJob,
    ImportKind,
    ImportStatus,
    SubscriptionStatus,
    Tag,
)
from ..phones import normalize_email, normalize_phone
from ..quota import schedule_refresh
from ..services import attributes as attribute_services
from ..services import tags as tag_services
from .files import NUL, ImportFileError, _open, _rows, file_error, preview
from .sql import CONTACT_KEY_INDEX, PROBE_CONTACTS_SQL, VALUE_COLUMNS, insert_rows

logger = logging.getLogger(__name__)

CHUNK = 2000  # a progress update every second or so at the target speed
MEMBER_CHUNK = 250  # by member id: at most 750 advisory locks held at once (the server's lock table is shared)
BACKGROUND_ROWS = 2000
# A points row is one ledger call (cdp.imports.points, a few ms): larger points files run in the background too.
POINTS_BACKGROUND_ROWS = 200
# A running job with no chunk committed for this long lost its worker (a chunk takes about a second).
STALE_AFTER = timedelta(minutes=5)
# A pending background job whose start task never ran (a lost hint) after this long.
LOST_START_AFTER = timedelta(minutes=2)


MAX_STORED_ERRORS = 20_000


LINE_UID = re.compile(r"^U[0-9a-f]{32}$")
TAG_SPLIT = re.compile(r"[,;、，；]")


def start(job, mapping):
    """Save the mapping; run now for small files, in a django-q2 task for large ones. Returns the job.

    A file that is not CSV past some row fails here, before any row is written: the run writes chunks as it reads,
    so it would find the broken row only after the good ones before it were in."""
    try:
        with translation.override(settings.LANGUAGE_CODE):  # the stored failure: the source language
            total = preview(job).total_rows
    except ImportFileError as exc:
        ImportJob.objects.filter(pk=job.pk).update(mapping=mapping, total_rows=0)
        ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PENDING).update(
            status=ImportStatus.FAILED, finished_at=timezone.now(), errors=[file_error(str(exc))]
        )
        job.refresh_from_db()
        return job
    ImportJob.objects.filter(pk=job.pk).update(mapping=mapping, total_rows=total)
    job.mapping, job.total_rows = mapping, total
    if total > background_rows(job.kind):
        transaction.on_commit(lambda: queues.enqueue("cdp.tasks.run_import", job.pk, task_name=f"import:{job.pk}"))
        return job
    return run(job.pk)


def background_rows(kind):
    """Files of more rows than this run in a django-q2 task."""
    return POINTS_BACKGROUND_ROWS if kind == ImportKind.POINTS else BACKGROUND_ROWS


def chat_history_mapping(job, *, source=ContactSource.IMPORT.value):
    """A WhatsApp chat-history export: its first three columns are the number, the name and the last message
    time, whatever their headers. `source` "pixel" when a channel page imports its existing WhatsApp users."""
    headers = preview(job).headers
    if len(headers) < 3:
        raise ImportFileError(_("對話歷史記錄需有三個欄位：電話號碼、名稱、最後訊息時間。"), code="missing_columns")
    return {
        "key_column": headers[0],
        "key_kind": "phone",
        "columns": {headers[1]: "name", headers[2]: "last_message_at"},
        "source": source,
    }


def contact_list_mapping(job, *, tag):
    """A plain list of contacts (CSV 推播): the first column is the channel's contact id (a WhatsApp phone, a LINE
    UID, ...); every row is tagged `tag`."""
    headers = preview(job).headers
    key_kind = "phone" if job.channel.kind == ChannelKind.WHATSAPP else "external_id"
    return {"key_column": headers[0], "key_kind": key_kind, "columns": {}, "tag_all": tag}


def run(job_id, *, resume=False):
    """Process a pending job once (a second call, or a redelivered task, finds it claimed and does nothing).

    With `resume`, take over a running job whose worker died (no heartbeat for STALE_AFTER): its chunks are
    committed with their progress, so it carries on after the last committed row."""
    now = timezone.now()
    claimable = ImportJob.objects.filter(pk=job_id)
    if resume:
        claimable = claimable.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        claimed = claimable.update(heartbeat_at=now)
    else:
        claimed = claimable.filter(status=ImportStatus.PENDING).update(
            status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now
        )
    if not claimed:
        return ImportJob.objects.filter(pk=job_id).first()
    job = ImportJob.objects.select_related("team", "channel").get(pk=job_id)
    importer = importer_for(job)
    # Stored messages are in the source language; pages and the error report translate them (core.i18n).
    with translation.override(settings.LANGUAGE_CODE):
        try:
            importer.run()
        except ImportFileError as exc:
            importer.fail(str(exc))
        except Exception:
            logger.exception("Import %s failed", job_id)
            importer.fail(_("匯入時發生未預期的錯誤，已匯入的部分保留，請重新上傳其餘資料列。"))
            raise
        finally:
            job.file.close()
    return ImportJob.objects.get(pk=job_id)


def importer_for(job):
    """The Importer of the job's kind: customers and contacts, or points (社群點數, cdp.imports.points)."""
    if job.kind == ImportKind.POINTS:
        from .points import PointsImporter  # points.py builds on this module's Importer

        return PointsImporter(job)
    return Importer(job)


def resume_stalled(*, now=None):
    """The per-minute backstop (heavy cluster): jobs whose start task was lost, and running jobs whose worker died
    (no chunk committed for STALE_AFTER), are run again. Returns the job ids handed to a task."""
    now = now or timezone.now()
    background = Q(total_rows__gt=BACKGROUND_ROWS) | Q(kind=ImportKind.POINTS, total_rows__gt=POINTS_BACKGROUND_ROWS)
    lost = ImportJob.objects.filter(background, status=ImportStatus.PENDING, created_at__lt=now - LOST_START_AFTER)
    stalled = ImportJob.objects.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    ids = []
    for job_id in lost.values_list("pk", flat=True):
        queues.enqueue("cdp.tasks.run_import", job_id, task_name=f"import:{job_id}")
        ids.append(job_id)
    for job_id in stalled.values_list("pk", flat=True):
        queues.enqueue("cdp.tasks.resume_import", job_id, task_name=f"import-resume:{job_id}")
        ids.append(job_id)
    return ids


IMPORT_SOURCES = (ContactSource.IMPORT.value, ContactSource.PIXEL.value)


@dataclass
class Row:
    number: int
    key: str
    values: dict  # the cells by header, for the error report
    name: str = ""
    phone: str = ""
    email: str = ""
    tags: list = field(default_factory=list)
    attributes: dict = field(default_factory=dict)  # {attribute: columns}
    same_as: int = 0  # the earlier row of this file with the same key (0: the first)
    last_message_at: object = None  # a chat-history export's last message time (a new contact's interaction time)
    points: int = 0  # a points import's change (cdp.imports.points)
    reason: str = ""  # and its reason


class Importer:
    def __init__(self, job):
        self.job, self.team, self.channel = job, job.team, job.channel
        mapping = job.mapping
        self.key_column, self.key_kind = mapping["key_column"], mapping["key_kind"]
        self.columns = mapping.get("columns", {})
        # New contacts' source: "import" (匯入名單), or "pixel" for the WhatsApp chat-history import a channel page
        # offers when connecting WhatsApp (seed 000 Pixel 2: existing WhatsApp users become contacts).
        self.source = mapping.get("source") if mapping.get("source") in IMPORT_SOURCES else ContactSource.IMPORT.value
        # A tag every row's customer gets (CSV 推播: the broadcast's audience is exactly this file's contacts).
        self.tag_all = str(mapping.get("tag_all") or "")
        self.load_targets()
        self.seen = {}
        self.tag_ids = {}
        # A resumed job carries on from its last committed chunk (0 for a new one).
        self.processed, self.applied, self.error_count = job.processed_rows, job.applied_rows, job.error_rows
        self.errors = list(job.errors or [])
        self.saved_errors = len(self.errors)
        self.grown = 0  # contacts (customers by member id) this import created: what moves the statistics
        self.next_analyze = CHUNK
        self.probe_per_key = None  # decided from the plan (see _existing_contacts)
        self.now = timezone.now()
        # By member id, a chunk holds one advisory lock per identity key (up to 3 per row) until it commits.
        self.chunk_size = min(CHUNK, MEMBER_CHUNK) if self.key_kind == "member_id" else CHUNK

    def load_targets(self):
        """The attributes and archived tags the rows are checked against, read once per run."""
        keys = [t[5:] for t in self.columns.values() if t.startswith("attr:")]
        self.attributes = {a.key: a for a in CustomAttribute.objects.for_team(self.team).filter(key__in=keys)}
        self.archived_tags = set(
            Tag.objects.for_team(self.team).filter(archived_at__isnull=False).values_list("name", flat=True)
        )

    # Validation ------------------------------------------------------------------------------------------

    def parse_chunk(self, headers, numbered_rows, language):
        """(rows read, valid rows, errors) of the next chunk, None at the end of the file.

        Runs in the reader thread while the main thread writes the previous chunk: reading and validating costs
        about as much Python as the writing, and the database works while this thread holds the interpreter.
        It touches no database and no state the writer reads (errors come back, the main thread records them)."""
        raw_rows = list(itertools.islice(numbered_rows, self.chunk_size))
        if not raw_rows:
            return None
        rows, errors = [], []
        with translation.override(language):
            for number, cells in raw_rows:
                row = self.parse(number, headers, cells)
                (rows if isinstance(row, Row) else errors).append(row)
        return len(raw_rows), rows, errors

    def parse(self, number, headers, cells):
        """A valid Row, or the error report's entry (row number, {column: messages}, values)."""
        values = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(headers)}
        if any(NUL in value for value in values.values()):
            # PostgreSQL text cannot hold NUL; the report shows where it was
            values = {h: value.replace(NUL, "\ufffd") for h, value in values.items()}
            return number, {"": [_("此列含有 NUL 字元（\\0），無法匯入。")]}, values
        errors = {}
        key = values.get(self.key_column, "")
        try:
            key = self._key(key)
        except ValidationError as exc:
            errors[self.key_column] = exc.messages
        row = Row(number=number, key=key, values=values)
        for column, target in self.columns.items():
            raw = values.get(column, "")
            if not raw:
                continue
            try:
                self._apply_target(row, target, raw)
            except (ValidationError, ValueError) as exc:
                errors[column] = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        if errors:
            return number, errors, values
        if self.tag_all and self.tag_all not in row.tags:
            row.tags.append(self.tag_all)
        first = self.seen.setdefault(row.key, number)  # a repeated key updates the same contact, in file order
        row.same_as = first if first != number else 0
        return row

    def _key(self, raw):
        if not raw:
            raise ValidationError(_("必填。"))
        if self.key_kind == "phone":
            return normalize_phone(raw, self.team.default_region)
        if len(raw) > 128:
            raise ValidationError(_("最多 128 個字元。"))
        if self.key_kind == "external_id" and self.channel.kind == ChannelKind.LINE and not LINE_UID.match(raw):
            raise ValidationError(_("不是有效的 LINE UID（U 加 32 位十六進位字元）：%(value)s") % {"value": raw})
        return raw

    def _apply_target(self, row, target, raw):
        if target == "name":
            row.name = raw[:200]
        elif target == "phone":
            row.phone = normalize_phone(raw, self.team.default_region)
        elif target == "last_message_at":
            row.last_message_at = _datetime(raw, self.team.zone)
        elif target == "email":
            row.email = self._email(raw)
        elif target == "tags":
            names = tag_services.clean_names(TAG_SPLIT.split(raw), field="tags")
            archived = [n for n in names if n in self.archived_tags]
            if archived:
                raise ValidationError(_("標籤已封存：%(names)s") % {"names": "、".join(archived)})
            row.tags += [n for n in names if n not in row.tags]
        elif target.startswith("attr:"):
            attribute = self.attributes.get(target[5:])
            if attribute is None or not attribute.is_active:
                raise ValidationError(_("自訂屬性不存在或已封存：%(key)s") % {"key": target[5:]})
            row.attributes[attribute] = attribute_services.convert(attribute, raw, self.team.zone)

    def _email(self, raw):
        try:
            return normalize_email(raw)
        except ValidationError:
            raise ValidationError(_("不是有效的 Email：%(value)s") % {"value": raw})

    def error(self, number, errors, values):
        self.error_count += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append({"row": number, "errors": errors, "values": values})

    def note(self, row):
        """A row applied to the same contact as an earlier row of the file: reported for information only."""
        if len(self.errors) < MAX_STORED_ERRORS:
            message = _("與第 %(row)s 列為同一聯絡人：依檔案順序更新。") % {"row": row.same_as}
            self.errors.append({"row": row.number, "notes": {self.key_column: [message]}, "values": row.values})

    # Running ---------------------------------------------------------------------------------------------

    def run(self):
        reader, headers, _dialect = _open(self.job)
        missing = [c for c in [self.key_column, *self.columns] if c not in headers]
        if missing:
            raise ImportFileError(_("檔案缺少欄位：%(names)s") % {"names": ", ".join(missing)}, code="missing_columns")
        numbered_rows = itertools.islice(_rows(reader), self.processed, None)  # past the committed chunks
        read_next = functools.partial(self.parse_chunk, headers, numbered_rows, settings.LANGUAGE_CODE)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"import-{self.job.pk}") as reader_thread:
            pending = reader_thread.submit(read_next)
            while (parsed := pending.result()) is not None:
                pending = reader_thread.submit(read_next)
                self.chunk(*parsed)
                self.refresh_planner_statistics()
        ImportJob.objects.filter(pk=self.job.pk).update(
            status=ImportStatus.DONE,
            finished_at=timezone.now(),
            errors=self.errors,
            processed_rows=self.processed,
            applied_rows=self.applied,
            error_rows=self.error_count,
            total_rows=self.processed,
        )
        schedule_refresh(self.team.pk)

    def fail(self, message):
        self.errors.append(file_error(message))
        ImportJob.objects.filter(pk=self.job.pk).update(
            status=ImportStatus.FAILED, finished_at=timezone.now(), errors=self.errors, error_rows=self.error_count
        )

    def chunk(self, read, rows, errors):
        """Write a chunk's valid rows set-based in one transaction (progress saved with them)."""
        report = [(entry[0], functools.partial(self.error, *entry)) for entry in errors]
        report += [(row.number, functools.partial(self.note, row)) for row in rows if row.same_as]
        for _number, record in sorted(report, key=lambda item: item[0]):
            record()
        try:
            with transaction.atomic(), batched_notifications():
                for part in in_file_order(rows):
                    self.write(part)
                self.save_progress(self.processed + read, self.applied + len(rows))
            self.applied += len(rows)
        except (DatabaseError, ValidationError):
            # A row the database refused (a contact created meanwhile, a tag deleted...): replay row by row so
            # it cannot take the chunk's good rows with it.
            for row in rows:
                try:
                    with transaction.atomic(), batched_notifications():
                        self.write([row])
                    self.applied += 1
                except (DatabaseError, ValidationError) as exc:
                    messages = exc.messages if isinstance(exc, ValidationError) else [str(exc).splitlines()[0]]
                    self.error(row.number, {self.key_column: messages}, row.values)
            self.save_progress(self.processed + read, self.applied)
        self.processed += read

    def refresh_planner_statistics(self):
        """ANALYZE the team columns of the tables a chunk looks up in, when this import has grown the team tenfold
        (rows it created; a re-import of existing contacts changes nothing the statistics count).

        A team the statistics do not know yet (created after the last ANALYZE; autovacuum waits for 10 % of the
        whole table to change) is estimated at about one row, so every chunk's lookups scan the whole team:
        quadratic in the import's size (62 ms a chunk instead of 2 ms at 200,000 customers). Analyzing only the
        team columns costs 0.3-0.4 s at 2,500,000 rows, done at 2,000, 20,000, 200,000... rows."""
        if connection.vendor != "postgresql" or connection.in_atomic_block or self.grown < self.next_analyze:
            return
        self.next_analyze = self.grown * 10
        with connection.cursor() as cursor:
            if self.key_kind == "member_id":  # identities are looked up among the team's customers
                cursor.execute("ANALYZE cdp_customer (team_id)")
            else:  # keys among the channel's contacts
                cursor.execute("ANALYZE cdp_contact (team_id, channel_id)")
                self.probe_per_key = None

    def save_progress(self, processed, applied):
        """Saved in the chunk's transaction: what a resumed job starts from (the heartbeat says it is alive)."""
        fields = {"processed_rows": processed, "applied_rows": applied, "error_rows": self.error_count}
        if len(self.errors) != self.saved_errors:  # the report so far, only when it grew
            fields["errors"], self.saved_errors = self.errors, len(self.errors)
        ImportJob.objects.filter(pk=self.job.pk).update(**fields, heartbeat_at=timezone.now())

    # Writing: one chunk of valid rows, a fixed number of statements whatever its size -------------------------

    def write(self, rows):
        if not rows:
            return
        self.events = []
        if self.key_kind == "member_id":
            customers = self._member_customers(rows)
        else:
            customers = self._channel_customers(rows)
        self.grown += len(self.new_keys)
        self._update_customers(rows, customers)
        self._tags(rows, customers)
        self._attributes(rows, customers)
        self._record_events()

    def _event(self, customer_id, type_, data, contact_id=None, channel_id=None):
        self.events.append((customer_id, contact_id, channel_id, type_, data))

    def _record_events(self):
        """One INSERT for the chunk's timeline events, announced to the consumers (journeys, analytics) in the
        chunk's transaction."""
        if not self.events:
            return
        customer_ids, contact_ids, channel_ids, types, data = (list(c) for c in zip(*self.events, strict=True))
        returned = insert_rows(
            CustomerEvent,
            {
                "team": self.team.pk,
                "customer": customer_ids,
                "contact": contact_ids,
                "channel": channel_ids,
                "type": types,
                "occurred_at": self.now,
                "data": data,
            },
            returning=["id"],
        )
        announce(self.team.pk, [pk for (pk,) in returned])

    def _channel_customers(self, rows):
        """{row key: customer id}; new contacts (and their own customers) are inserted in bulk."""
        existing = self._existing_contacts([r.key for r in rows])
        new_rows = [r for r in rows if r.key not in existing]
        self.new_keys = {r.key for r in new_rows}
        if not new_rows:
            return existing
        is_whatsapp = self.channel.kind == ChannelKind.WHATSAPP
        keys = [r.key for r in new_rows]
        names = [r.name for r in new_rows]
        customer_ids = insert_rows(
            Customer,
            {
                "team": self.team.pk,
                "name": names,
                "phone": [r.phone or (r.key if is_whatsapp else "") for r in new_rows],
                "email": [r.email for r in new_rows],
                "created_at": self.now,
                "updated_at": self.now,
            },
            returning=["id"],
        )
        customer_ids = [pk for (pk,) in customer_ids]
        contacts = insert_rows(
            Contact,
            {
                "team": self.team.pk,
                "channel": self.channel.pk,
                "customer": customer_ids,
                "external_id": keys,
                "phone": keys if is_whatsapp else "",
                "display_name": names,
                "status": SubscriptionStatus.SUBSCRIBED.value,
                "subscribed_at": self.now,
                "status_changed_at": self.now,
                "source": self.source,
                "source_detail": self.job.original_name[:200],
                "last_customer_interaction_at": [r.last_message_at for r in new_rows],
                "created_at": self.now,
            },
            returning=["id", "external_id", "customer_id"],
        )
        data = {"source": self.source, "channel_kind": self.channel.kind, "import_id": self.job.pk}
        for contact_id, external_id, customer_id in contacts:
            existing[external_id] = customer_id
            self._event(customer_id, EventType.CONTACT_CREATED.value, data, contact_id, self.channel.pk)
        return existing

    def _existing_contacts(self, keys):
        """{external id: customer id} of the channel's contacts among `keys`.

        On PostgreSQL, when the planner would use the (team, channel, external id) unique index for it, one
        probe per key (6 ms a chunk). Given the keys as an IN list the planner scans the channel's whole range
        instead (20-40 ms a chunk at 100,000 contacts, growing with every chunk written). But the per-key form is
        only safe with statistics that know the channel: estimated at ~1 row, the planner picks another
        (team, channel, ...) index and scans the channel once per key. So it is used when EXPLAIN shows the
        unique index, checked after every statistics refresh."""
        if self.probe_per_key is None:
            self.probe_per_key = self._planner_probes_unique_index()
        if not self.probe_per_key:
            return dict(
                Contact.objects.for_team(self.team)
                .filter(channel=self.channel, external_id__in=keys)
                .values_list("external_id", "customer_id")
            )
        with connection.cursor() as cursor:
            cursor.execute(PROBE_CONTACTS_SQL, [list(keys), self.team.pk, self.channel.pk])
            return dict(cursor.fetchall())

    def _planner_probes_unique_index(self):
        if connection.vendor != "postgresql":
            return False
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + PROBE_CONTACTS_SQL, [["x"] * CHUNK, self.team.pk, self.channel.pk])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        return f"using {CONTACT_KEY_INDEX} " in plan

    def _member_customers(self, rows):
        """{member id: customer id}. A member not seen before is resolved as identity.identify_member would
        (phone / email matching by the team's switches: such a customer takes the member id), but for the whole
        chunk at once: its identities locked in one statement, the customers they can name read and locked in one
        query and decided in memory, new customers inserted in one statement, changed ones updated in one."""
        from ..services import identity

        idents = [identity.Identity(member_id=r.key, phone=r.phone, email=r.email) for r in rows]
        identity.lock_identities(self.team, idents)
        index = identity.CustomerIndex.locked(self.team, idents)
        customers, new, changed, events = {}, [], {}, []
        self.new_keys = set()
        for r, ident in zip(rows, idents, strict=True):
            customer = index.resolve(ident)
            if customer is None or customer.member_id != r.key:
                self.new_keys.add(r.key)
                if customer is None:
                    customer = index.new(len(new), member_id=r.key, created_at=self.now)
                    new.append(customer)
                first_time = not customer.is_member
                for key, value in identity.identify_updates(customer, ident, r.name, self.now).items():
                    if getattr(customer, key) != value:
                        index.set(customer, key, value)
                        if customer.pk is not None:
                            changed.setdefault(customer.pk, (customer, set()))[1].add(key)
                kind = EventType.MEMBER_REGISTERED if first_time else EventType.MEMBER_LOGIN
                events.append((customer, kind.value, ident.as_dict()))
            customers[r.key] = customer
        if new:
            fields = ("member_id", "phone", "email", "name", "is_member", "member_since", "created_at")
            returned = insert_rows(
                Customer,
                {**{f: [getattr(c, f) for c in new] for f in fields}, "team": self.team.pk, "updated_at": self.now},
                returning=["id"],
            )
            for customer, (pk,) in zip(new, returned, strict=True):
                customer.pk = pk
        if changed:
            for customer, _fields in changed.values():
                customer.updated_at = self.now
            fields = sorted(set().union(*(fields for _customer, fields in changed.values())))
            Customer.objects.bulk_update([customer for customer, _fields in changed.values()], [*fields, "updated_at"])
        for customer, kind, data in events:
            self._event(customer.pk, kind, data)
        return {key: customer.pk for key, customer in customers.items()}

    def _update_customers(self, rows, customers):
        """Given name / phone / email overwrite the customer's (new contacts already have them)."""
        changes = {
            customers[r.key]: {k: v for k, v in (("name", r.name), ("phone", r.phone), ("email", r.email)) if v}
            for r in rows
            if r.key not in self.new_keys
        }
        changes = {pk: c for pk, c in changes.items() if c}
        if not changes:
            return
        objects = list(Customer.objects.for_team(self.team).filter(pk__in=list(changes)))
        fields = set()
        for customer in objects:
            for key, value in changes[customer.pk].items():
                if getattr(customer, key) != value:
                    setattr(customer, key, value)
                    fields.add(key)
        if fields:
            Customer.objects.bulk_update(objects, sorted(fields | {"updated_at"}))

    def _tag_ids(self, names):
        """{name: tag id}, creating missing tags; cached for the whole import."""
        missing = [name for name in names if name not in self.tag_ids]
        if missing:
            self.tag_ids.update({tag.name: tag.pk for tag in tag_services.get_or_create_tags(self.team, missing)})
        return self.tag_ids

    def _tags(self, rows, customers):
        """One INSERT ... ON CONFLICT DO NOTHING for the chunk's tags; events for the links actually added."""
        pairs = list(dict.fromkeys((customers[r.key], name) for r in rows for name in r.tags))
        if not pairs:
            return
        tag_ids = self._tag_ids(dict.fromkeys(name for _customer, name in pairs))
        added = insert_rows(
            CustomerTag,
            {
                "team": self.team.pk,
                "customer": [customer_id for customer_id, _name in pairs],
                "tag": [tag_ids[name] for _customer, name in pairs],
                "channel": self.channel.pk if self.channel else None,
                "source": "import",
                "applied_at": self.now,
            },
            returning=["customer_id", "tag_id"],
            on_conflict="ON CONFLICT (customer_id, tag_id, team_id) DO NOTHING",
        )
        names = {pk: name for name, pk in tag_ids.items()}
        channel_id = self.channel.pk if self.channel else None
        for customer_id, tag_id in added:
            data = {"tag": names[tag_id], "tag_id": tag_id, "source": "import"}
            self._event(customer_id, EventType.TAG_ADDED.value, data, channel_id=channel_id)

    def _attributes(self, rows, customers):
        """Upsert the rows' attribute values in one statement (new customers need no lookup), with events."""
        wanted = {(customers[r.key], a.pk): (a, columns) for r in rows for a, columns in r.attributes.items()}
        if not wanted:
            return
        known = {customers[r.key] for r in rows if r.attributes and r.key not in self.new_keys}
        existing = {}
        if known:
            existing = {
                (customer_id, attribute_id): dict(zip(VALUE_COLUMNS, values, strict=True))
                for customer_id, attribute_id, *values in AttributeValue.objects.for_team(self.team)
                .filter(customer_id__in=known, attribute_id__in={a for _c, a in wanted})
                .values_list("customer_id", "attribute_id", *VALUE_COLUMNS)
            }
        upsert = []
        for (customer_id, attribute_id), (attribute, columns) in wanted.items():
            new = attribute_services.display(attribute.type, columns)
            old = None
            if (customer_id, attribute_id) in existing:
                old = attribute_services.display(attribute.type, existing[customer_id, attribute_id])
                if old == new:
                    continue
            upsert.append((customer_id, attribute_id, *(columns[c] for c in VALUE_COLUMNS)))
            data = {"key": attribute.key, "old": old, "new": new, "source": "import"}
            self._event(customer_id, EventType.ATTRIBUTE_CHANGED.value, data)
        if not upsert:
            return
        customer_ids, attribute_ids, *values = (list(column) for column in zip(*upsert, strict=True))
        insert_rows(
            AttributeValue,
            {
                "team": self.team.pk,
                "customer": customer_ids,
                "attribute": attribute_ids,
                **dict(zip(VALUE_COLUMNS, values, strict=True)),
                "updated_at": self.now,
            },
            on_conflict="ON CONFLICT (customer_id, attribute_id, team_id) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in [*VALUE_COLUMNS, "updated_at"]),
        )


def _datetime(raw, zone):
    """A chat export's time ("2026-11-20 10:00", "2026/11/20 10:00:05", ISO 8601), in the team's zone if naive."""
    try:
        parsed = parse_datetime(raw.strip().replace("/", "-"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(_("必須是日期時間（YYYY-MM-DD HH:MM）：%(value)s") % {"value": raw})
    return timezone.make_aware(parsed, zone) if timezone.is_naive(parsed) else parsed


def in_file_order(rows):
    """The chunk's rows as parts in which no key repeats: the n-th row of each key goes to the n-th part.

    A part is written set-based, so two rows of one contact in it would be applied together; written part after
    part, the later row of a contact finds the contact the earlier one wrote, as a second import of it would. A
    file without repeated keys is one part (the chunk's fixed number of statements); each further part costs as
    many again, up to the most rows one key has in the chunk."""
    parts, seen = [], {}
    for row in rows:
        n = seen[row.key] = seen.get(row.key, -1) + 1
        if n == len(parts):
            parts.append([])
        parts[n].append(row)
    return parts
