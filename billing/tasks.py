"""django-q2 tasks of the billing app: thin and idempotent.

Schedules (created after every migrate, apps.py):
- "billing: monthly SMS bills" → send_due_monthly_bills, hourly: from the 3rd in each team's time zone, the previous
  month's bill, made once per team and month and emailed once (a dead worker's send is retried after its lease).
"""

from accounts import queues

from . import services

SCHEDULES = [("billing: monthly SMS bills", "billing.tasks.send_due_monthly_bills")]


def ensure_schedules(**kwargs):
    for name, func in SCHEDULES:
        queues.ensure_schedule(name, func, schedule_type="H")


def send_due_monthly_bills():
    return services.send_due_monthly_bills()
