"""Bulk "last customer interaction" updates for a batch of webhook events, each contact with its own time.

cdp.services.contacts.record_interactions takes one time for many contacts; webhook batches need one time per
contact (the platform's event time). This is that missing piece, kept in messaging: on PostgreSQL one
UPDATE ... FROM (VALUES ...) per table; elsewhere cdp's record_interaction per contact. Times only move forward.
"""

from django.conf import settings
from django.db import connection

from cdp.models import Contact
from cdp.services.contacts import INTERACTION_FIELDS, record_interaction


def record_customer_interactions(times_by_contact, kind="customer"):
    """times_by_contact: {contact_id: datetime}."""
    if not times_by_contact:
        return
    field = INTERACTION_FIELDS[kind]
    if not settings.IS_POSTGRES:
        for contact in Contact.objects.filter(pk__in=list(times_by_contact)).only("id", "customer_id", field):
            record_interaction(contact, kind=kind, occurred_at=times_by_contact[contact.pk])
        return
    ids = list(times_by_contact)
    times = [times_by_contact[i] for i in ids]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH v(id, at) AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[])),
            c AS (
                UPDATE cdp_contact SET {field} = v.at FROM v
                WHERE cdp_contact.id = v.id AND ({field} IS NULL OR {field} < v.at)
                RETURNING cdp_contact.customer_id, v.at
            ),
            m AS (SELECT customer_id, max(at) AS at FROM c GROUP BY customer_id)
            UPDATE cdp_customer SET {field} = m.at FROM m
            WHERE cdp_customer.id = m.customer_id AND ({field} IS NULL OR {field} < m.at)
            """,
            [ids, times],
        )
