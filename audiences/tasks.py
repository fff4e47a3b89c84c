"""django-q2 tasks: thin and idempotent; the broadcast rows are the source of truth."""

from accounts.queues import drain_seconds

from . import services


def sweep_broadcasts():
    """Every minute (Schedule "audiences.sweep_broadcasts"): due snapshots, due sends, sends in progress."""
    return services.sweep(max_seconds=drain_seconds())


def send_broadcast(broadcast_id):
    """Send every pending recipient of a broadcast in batches; a rerun after a crash resumes where it stopped."""
    return services.send_all(broadcast_id)
