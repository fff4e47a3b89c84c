"""django-q2 tasks of OmniLink, thin and idempotent.

Schedule (created after every migrate, apps.py): "omnilink: timeouts" → sweep_timeouts every minute: participants
still pending after their completion window fail with 因顧客未送出整合訊息或未安裝目標渠道 APP 失敗;
"omnilink: daily counts" → compact_daily_counts every minute: each day's rollup delta rows folded into one.
"""

from accounts import queues

from . import rollup, services

SCHEDULES = [
    ("omnilink: timeouts", "omnilink.tasks.sweep_timeouts"),
    ("omnilink: daily counts", "omnilink.tasks.compact_daily_counts"),
]


def ensure_schedules(**kwargs):
    for name, func in SCHEDULES:
        queues.ensure_schedule(name, func)


def sweep_timeouts():
    return services.sweep_timeouts()


def compact_daily_counts():
    return rollup.compact()
