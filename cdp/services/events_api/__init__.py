"""POST /api/v1/events: the website / shop / pixel feed, applied in batches.

Contract (kept exactly; integrators rely on it):
  request  {"events": [{"id": "<client event id, unique per team>", "type": "...", "occurred_at": "<ISO 8601>",
                        "data": {...}}]}                              at most 1,000 events
  response {"accepted": N, "duplicates": N,
            "rejected": [{"index": i, "id": "...", "errors": {field: [msg]}, "code": "<why, e.g. invalid_phone>"}]}

Each event is applied atomically in its own savepoint together with its EventReceipt row: a bad event is rejected
(nothing of it is written, and its id is not consumed, so a corrected event with the same id can be sent again),
the good ones of the same batch still apply, and an id already received is a duplicate that changes nothing.
Error fields are "id", "type", "occurred_at", "data" or "data.<field>" (attribute errors: "data.attributes.<key>").
Each rejected entry carries one machine-readable `code` (REJECTION_CODES in checks.py, an enum in the schema):
e.g. member_id_conflict, unknown_channel, unknown_contact, invalid_phone, missing_reference, future_occurred_at.

occurred_at (default: now) is when it happened: a naive time is read in the team's time zone; more than 10
minutes in the future is rejected. Timelines, bindings, analytics and journey triggers use it.

Customer references (checkout.completed, tag.add / tag.remove, attribute.set, system.*): one of
  "member_id"  — the member's customer, created if the member is not known yet;
  "customer"   — a customer id of the team (a customer merged into another resolves to the survivor);
  "channel" + "external_id" — an existing contact's customer.
"""

from .apply import Item, process  # noqa: F401
from .batched import Fallback, FastRun  # noqa: F401
from .checks import (  # noqa: F401
    ACCEPTED,
    DUPLICATE,
    FIELD_CODES,
    FUTURE_TOLERANCE,
    MAX_EVENTS,
    MAX_ID,
    REJECTION_CODES,
    SOURCE_FOR_METHOD,
    SYSTEM_RE,
    TYPES,
    BadBody,
    Batch,
    Outcome,
    Rejected,
    check_body,
    rejection_code,
)
from .handlers import HANDLERS, REFERENCE_KEYS, apply_event, resolve_reference  # noqa: F401
