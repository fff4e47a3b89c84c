"""LINE 好友同步 (API 同步, seed 000): bring a LINE Official Account's existing friends in as contacts.

GET /v2/bot/followers/ids pages through the friends' user ids (`start` = the previous page's `next`), then
GET /v2/bot/profile/{userId} gives each new friend's name. A friend who is already a contact is left untouched;
a new one is created with source API 同步 (its created-at is the sync time: LINE does not say when they joined).

The job is a FriendSync row and its state lives there: the `start` token of the next page, the ids of the page
being worked on, the counts. `run` works in steps, saving after each, so a worker that dies (or a deploy) loses
nothing: the job is picked up again by the next run (the per-minute schedule resumes jobs whose heartbeat is old).
Rate limits (429) wait for Retry-After or back off 5 s, 10 s, ... 5 min; a 403 (the endpoint is only for verified
or premium accounts) fails the job with a message that says so.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.queues import enqueue
from cdp.models import ChannelKind, Contact, ContactSource
from cdp.services.contacts import upsert_contact
from core.errors import ServiceError

from ..adapters.line import LineTransport
from ..models import FriendSync, FriendSyncStatus

logger = logging.getLogger(__name__)

STALE = timedelta(minutes=2)  # a running job whose heartbeat is older lost its worker
BACKOFF_FIRST, BACKOFF_MAX = 5, 300
MAX_ATTEMPTS = 12  # consecutive failures (network, 5xx) before the job gives up
UNVERIFIED_MESSAGE = _(
    "LINE 拒絕存取好友清單（HTTP 403）：只有認證或進階 LINE 官方帳號可以取得好友 ID 清單。請先完成帳號認證後再同步。"
)


def start(*, channel, by=None):
    """Start (or return the running) friend sync of a LINE channel."""
    if channel.kind != ChannelKind.LINE:
        raise ServiceError(_("只有 LINE 渠道可以同步好友。"), field="channel", code="invalid")
    if channel.is_sandbox:
        raise ServiceError(_("沙盒渠道無法同步好友。"), field="channel", code="invalid")
    with transaction.atomic():
        running = (
            FriendSync.objects.select_for_update()
            .filter(channel=channel, status__in=[FriendSyncStatus.PENDING, FriendSyncStatus.RUNNING])
            .first()
        )
        if running is not None:
            return running
        job = FriendSync.objects.create(team_id=channel.team_id, channel=channel, created_by=by)
        transaction.on_commit(lambda: enqueue("messaging.tasks.run_friend_sync", job.pk, task_name="friend-sync"))
    return job


def latest(channel):
    return FriendSync.objects.filter(channel=channel).order_by("-created_at", "-id").first()


def run(job_id, max_steps=None):
    """Work on one job until it is done, failed, rate-limited (retry_at set) or `max_steps` calls were made.
    Safe to call concurrently: the job row is locked for each step (skip_locked: a second worker returns)."""
    steps = 0
    while max_steps is None or steps < max_steps:
        with transaction.atomic():
            job = (
                FriendSync.objects.select_for_update(skip_locked=True)
                .select_related("channel", "channel__team")
                .filter(pk=job_id, status__in=[FriendSyncStatus.PENDING, FriendSyncStatus.RUNNING])
                .first()
            )
            if job is None or (job.retry_at and job.retry_at > timezone.now()):
                return job
            _step(job)
            job.heartbeat_at = timezone.now()
            job.save()
        steps += 1
        if job.status in (FriendSyncStatus.DONE, FriendSyncStatus.FAILED):
            return job
    return job


def _step(job):
    job.status = FriendSyncStatus.RUNNING
    api = LineTransport(job.channel)
    if job.pending_ids:
        _one_friend(job, api)
    elif not job.pages_done:
        _next_page(job, api)
    else:
        job.status, job.finished_at = FriendSyncStatus.DONE, timezone.now()


def _next_page(job, api):
    response = api.follower_ids(job.next_start)
    if not _ok(job, response):
        return
    data = response.json()
    ids = [str(i) for i in data.get("userIds") or [] if i]
    job.seen += len(ids)
    job.next_start = str(data.get("next") or "")
    job.pages_done = not job.next_start
    known = set(Contact.objects.filter(channel=job.channel, external_id__in=ids).values_list("external_id", flat=True))
    job.existing += len(known)  # existing contacts are left untouched
    job.pending_ids = [i for i in dict.fromkeys(ids) if i not in known]


def _one_friend(job, api):
    user_id = job.pending_ids[0]
    response = api.profile(user_id)
    if response.status == 404:  # unfollowed or blocked since the ids page was read
        job.skipped += 1
    elif not _ok(job, response):
        return
    else:
        result = upsert_contact(
            channel=job.channel,
            external_id=user_id,
            source=ContactSource.API_SYNC,
            source_detail=f"friend_sync:{job.pk}",
            display_name=str(response.json().get("displayName") or "")[:200],
        )
        if result.created:
            job.created += 1
        else:
            job.existing += 1  # became a contact meanwhile (a webhook): untouched
    job.pending_ids = job.pending_ids[1:]


def _ok(job, response):
    """True for a 200; otherwise the job waits (429, 5xx, network) or fails (403, other 4xx)."""
    if response.status == 200:
        job.attempts, job.retry_at, job.error = 0, None, ""
        return True
    message = str(response.json().get("message") or "")[:300] if response.status else response.body.decode()[:300]
    if response.status == 403:
        job.status, job.finished_at, job.error = FriendSyncStatus.FAILED, timezone.now(), UNVERIFIED_MESSAGE
        return False
    if response.status == 429 or response.status >= 500 or response.status == 0:
        job.attempts += 1
        if job.attempts > MAX_ATTEMPTS:
            job.status, job.finished_at = FriendSyncStatus.FAILED, timezone.now()
            job.error = _("LINE 連續失敗，已停止同步：%(message)s") % {"message": message}
            return False
        wait = _retry_after(response) or min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (job.attempts - 1))
        job.retry_at = timezone.now() + timedelta(seconds=wait)
        job.error = f"HTTP {response.status or 'network'}: {message}"[:500]
        logger.info("LINE friend sync %s: HTTP %s, waiting %s s", job.pk, response.status, wait)
        return False
    job.status, job.finished_at = FriendSyncStatus.FAILED, timezone.now()
    job.error = _("LINE 回應 HTTP %(status)s：%(message)s") % {"status": response.status, "message": message}
    return False


def _retry_after(response):
    value = (response.headers or {}).get("retry-after", "")
    return min(BACKOFF_MAX, int(value)) if str(value).isdigit() else 0


def resume():
    """The per-minute schedule's backstop: jobs whose retry time passed, and jobs whose worker died (a job still
    being worked on is only stepped by one worker at a time: each step locks the row)."""
    now = timezone.now()
    due = FriendSync.objects.filter(status__in=[FriendSyncStatus.PENDING, FriendSyncStatus.RUNNING]).exclude(
        retry_at__gt=now
    )
    due = due.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE) | Q(retry_at__isnull=False))
    ids = list(due.values_list("pk", flat=True))
    for pk in ids:
        run(pk)
    return len(ids)
