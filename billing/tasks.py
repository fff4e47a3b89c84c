"""django-q2 tasks of the billing app: thin and idempotent.

Schedules (created after every migrate, apps.py):
- "billing: monthly SMS bills" → send_due_monthly_bills, hourly: from the 3rd in each team's time zone, the previous
  month's bill, made once per team and month and emailed once (a dead worker's send is retried after its lease).
- "billing: low-balance emails" → send_due_low_balance_emails, hourly: the backstop of the email a debit triggers
  after commit (a worker dying between the commit and that call would otherwise skip the day's email).
"""

from accounts import queues

from . import services

SCHEDULES = [
    ("billing: monthly SMS bills", "billing.tasks.send_due_monthly_bills"),
    ("billing: low-balance emails", "billing.tasks.send_due_low_balance_emails"),
]


def ensure_schedules(**kwargs):
    for name, func in SCHEDULES:
        queues.ensure_schedule(name, func, schedule_type="H")


def send_due_monthly_bills():
    return services.send_due_monthly_bills()


def send_due_low_balance_emails():
    return services.send_due_low_balance_emails()
