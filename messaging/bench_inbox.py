"""Quick measurement of the inbox list (issue 20.2), before / after Conversation.last_message_at, on PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_inbox2 INBOX_MESSAGES=200000 \
        .venv/bin/python manage.py shell -c "import messaging.bench_inbox as b; b.run()"
"Before" is the previous filtered query (a GROUP BY over the team's messages, copied here); "after" is
conversations.inbox_rows. Each figure is the best of 3 runs."""

import importlib
import os
import time

from django.apps import apps
from django.db import connection
from django.db.models import F, Max, Q

from accounts.models import Team
from cdp.models import Channel, Contact, Customer

from .models import Conversation, InboundMessage
from .services import conversations


def _old_filtered(team, *, q="", unread=False, limit=50):
    messages = InboundMessage.objects.for_team(team)
    if q:
        texts = InboundMessage.objects.for_team(team).filter(text__icontains=q)
        contacts = Contact.objects.for_team(team).filter(display_name__icontains=q)
        messages = messages.filter(Q(contact__in=contacts.values("pk")) | Q(contact__in=texts.values("contact_id")))
    latest = messages.values("contact_id").annotate(last=Max("occurred_at"))
    if unread:
        latest = latest.filter(
            Q(contact__conversation__last_read_at__isnull=True) | Q(last__gt=F("contact__conversation__last_read_at"))
        )
    return list(latest.order_by("-last")[:limit])


def _best(fn):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return f"{min(times) * 1000:.0f} ms"


def run():
    n = int(os.environ.get("INBOX_MESSAGES", "200000"))
    contacts_n = max(1000, n // 20)
    team = Team.objects.filter(slug="bench-inbox").first()
    if team is None:
        team = Team.objects.create(slug="bench-inbox", name="bench-inbox")
        channel = Channel.objects.create(team=team, kind="line", name="bench")
        customers = Customer.objects.bulk_create([Customer(team=team) for _ in range(contacts_n)], batch_size=5000)
        Contact.objects.bulk_create(
            [
                Contact(team=team, channel=channel, customer=customer, external_id=f"U{i}", display_name=f"客 {i}")
                for i, customer in enumerate(customers)
            ],
            batch_size=5000,
        )
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO messaging_inboundmessage
                   (team_id, channel_id, contact_id, external_id, kind, text, occurred_at, created_at)
                   SELECT %s, %s, c.ids[1 + (g %% array_length(c.ids, 1))], '', 'text', 'msg ' || g,
                          now() - (g || ' seconds')::interval, now()
                   FROM generate_series(1, %s) g,
                        (SELECT array_agg(id) ids FROM cdp_contact WHERE team_id = %s) c""",
                [team.pk, channel.pk, n, team.pk],
            )
        print(f"inserted {n} messages for {contacts_n} contacts in {time.perf_counter() - start:.1f} s")
        Conversation.objects.filter(team=team).delete()
        migration = importlib.import_module("messaging.migrations.0008_conversation_last_message")
        start = time.perf_counter()
        migration.backfill(apps, None)
        print(f"backfill (migration 0008): {time.perf_counter() - start:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_inboundmessage; ANALYZE messaging_conversation;")
    print(f"messages: {InboundMessage.objects.filter(team=team).count()}")
    for label, kwargs in (("unfiltered", {}), ("search 'msg 12'", {"q": "msg 12"}), ("unread", {"unread": True})):
        before = _best(lambda kwargs=kwargs: _old_filtered(team, **kwargs))
        after = _best(lambda kwargs=kwargs: conversations.inbox_rows(team, **kwargs))
        print(f"{label:18} before (GROUP BY over messages): {before:>8}   after (Conversation index): {after:>8}")
    after = _best(lambda: conversations.inbox_rows(team, assignee="none"))
    print(f"{'assignee=none':18} after: {after}")
