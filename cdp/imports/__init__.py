"""CSV import (seed 001 §6): into a channel keyed by its contact id column (LINE UID, WhatsApp phone, ...), or
by member id; name / phone / email, tag and custom attribute columns.

Files are UTF-8 with or without a BOM (what Excel saves); the dialect (comma, semicolon, tab) is sniffed with
the csv module and read strictly (a quote never closed fails the file, naming the row). Every row is validated
in full before anything is written, so a bad row is reported (row number, column, message) and nothing of it is
applied. Good rows are written in chunks of CHUNK rows, one
transaction per chunk with a fixed number of statements whatever its size (one lookup, then one INSERT per table:
customers, contacts, tag links, attribute values, timeline events; test_import pins the count). Only a chunk the
database refuses (a contact created meanwhile, say) is replayed row by row, each row in its own savepoint, so a
row still applies whole or not at all. Files with more than BACKGROUND_ROWS rows run in a django-q2 task;
progress (ImportJob.processed_rows) is committed with every chunk.

A key repeated in the file (Excel exports of orders repeat customers) updates the same contact, row after row in
file order, exactly as importing the later row again would: within a chunk the rows are written in parts where
no key repeats (in_file_order), across chunks the contact simply exists. The report notes "same contact as row
N" for the later rows; they are applied, not errors.

Keys: into a WhatsApp channel the key is the phone number (E.164 with the team's default region); into a LINE
channel a LINE UID (U + 32 hex digits); other channels take the platform id as given. By member id, a member
not seen before is resolved by identity's rules (phone / email matching by the team's switches, as
identify_member does, with a member_registered or member_login event), the chunk's members together under their
identity locks (chunks of MEMBER_CHUNK rows there: one advisory lock per identity key); existing members are
updated in bulk. New contacts get source "import" and a contact_created event; tag_added and attribute_changed
events follow the links and values actually written, all in the chunk's one events INSERT.
"""

from .files import (  # noqa: F401
    NUL,
    PREVIEW_ROWS,
    SNIFF_BYTES,
    ImportFileError,
    Preview,
    create_job,
    error_report,
    file_error,
    percent,
    preview,
)
from .importer import (  # noqa: F401
    BACKGROUND_ROWS,
    CHUNK,
    LINE_UID,
    LOST_START_AFTER,
    MAX_STORED_ERRORS,
    MEMBER_CHUNK,
    POINTS_BACKGROUND_ROWS,
    STALE_AFTER,
    TAG_SPLIT,
    Importer,
    Row,
    background_rows,
    chat_history_mapping,
    contact_list_mapping,
    in_file_order,
    logger,
    resume_stalled,
    run,
    start,
)
from .sql import CONTACT_KEY_INDEX, PROBE_CONTACTS_SQL, VALUE_COLUMNS, insert_rows  # noqa: F401
