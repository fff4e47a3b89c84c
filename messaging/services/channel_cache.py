"""What a webhook needs to verify a request, per process: the channel a URL names (its decrypted secret, app
secret, verify token, team and status), or the fact that there is none.

Without it a forged request costs a database read: the cache keeps known, unknown and disabled channel ids alike
for MESSAGING_WEBHOOK_CHANNEL_CACHE_SECONDS, so a flood of bad signatures is refused from memory. A save or
delete of a channel in this process drops its entry at once (post_save / post_delete, connected in apps.py);
another process sees the change within the TTL. A signature or verify token that does not match may have just
been changed in another process, so the channel is read again then, at most once per RELOAD_AFTER_MISMATCH_SECONDS
per channel: a rotated secret takes effect within seconds and forged requests still cost (nearly) no query.
The store statement re-checks the status in the database, so a disabled channel never gets events stored.
"""

import time

from django.conf import settings

from cdp.models import Channel

RELOAD_AFTER_MISMATCH_SECONDS = 2.0
MAX_ENTRIES = 10_000  # unknown ids are cached too: a scan over ids must not grow the cache without bound
_entries = {}  # channel id -> (loaded at (monotonic), Channel or None)


def get(channel_id, *, fresh=False):
    """The channel with this id (any team, any status), or None when there is none."""
    entry = None if fresh else _entries.get(channel_id)
    if entry is None or time.monotonic() - entry[0] > settings.MESSAGING_WEBHOOK_CHANNEL_CACHE_SECONDS:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        entry = (time.monotonic(), Channel.objects.filter(pk=channel_id).first())
        _entries[channel_id] = entry
    return entry[1]


def may_reload(channel_id):
    """After a mismatch: True when the cached channel is old enough to be worth reading again."""
    entry = _entries.get(channel_id)
    return entry is None or time.monotonic() - entry[0] >= RELOAD_AFTER_MISMATCH_SECONDS


def forget(channel_id):
    _entries.pop(channel_id, None)


def forget_channel(sender=None, instance=None, **kwargs):
    """Signal receiver: a channel saved or deleted in this process is read again by the next webhook."""
    if instance is not None:
        forget(instance.pk)


def clear():
    _entries.clear()
