"""Debits one team's balance from a separate process, as an outbox worker does. Prints "<accepted> <blocked>".
Run: python -m billing.tests.debit_worker TEAM_ID START STOP (DATABASE_URL set). Keys are "sms:<n>" for n in
[START, STOP), so two workers given overlapping ranges race on the same idempotency keys."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from accounts.models import Team  # noqa: E402
from billing import services  # noqa: E402
from billing.models import TransactionType  # noqa: E402

team_id, start, stop = (int(arg) for arg in sys.argv[1:4])
team = Team.objects.get(pk=team_id)
blocked = 0
for n in range(start, stop):
    try:
        services.debit(team, 1, type=TransactionType.SMS_DEBIT, idempotency_key=f"sms:{n}", feature="quick_sms")
    except services.BalanceBlocked:
        blocked += 1
print(stop - start - blocked, blocked, flush=True)
