"""Sign-in and password-reset throttling: failures per account and per IP address, then a lockout that expires.

Counted in Django's cache, which every web process shares (the database cache by default, Redis with REDIS_URL).
A counter lives while attempts keep coming less than the window apart; reaching the limit replaces it with a lock
for the same window. The limits are settings (config/settings.py, README "Configuration").
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle


@dataclass(frozen=True)
class Scope:
    name: str
    subject: str  # what the form names: "account" (a username) or "email"
    per_subject: str  # the settings holding each limit and the window
    per_ip: str
    window: str


LOGIN = Scope("login", "account", "LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_IP", "LOGIN_LOCKOUT_SECONDS")
PASSWORD_RESET = Scope(
    "password-reset", "email", "PASSWORD_RESETS_PER_EMAIL", "PASSWORD_RESETS_PER_IP", "PASSWORD_RESET_WINDOW_SECONDS"
)


def client_ip(request):
    """The caller's address, read through the proxies the deployment declares (REST_FRAMEWORK["NUM_PROXIES"]),
    as DRF's throttles read it."""
    return BaseThrottle().get_ident(request)


def _keys(scope, request, name):
    """(limit setting, counter key, lock key) for the subject named in the form and for the caller's address."""
    subjects = [(scope.per_subject, scope.subject, name.strip().lower())]
    if request is not None:
        subjects.append((scope.per_ip, "ip", client_ip(request) or ""))
    out = []
    for limit, kind, value in subjects:
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        out.append((limit, f"throttle:{scope.name}:{kind}:{digest}", f"throttle:{scope.name}:{kind}:{digest}:lock"))
    return out


def _locked_error(scope, until):
    minutes = max(1, math.ceil((until - time.time()) / 60))
    if scope is LOGIN:
        message = _("登入失敗次數過多，暫時無法登入，請於 %(minutes)s 分鐘後再試。")
    else:
        message = _("重設密碼的申請次數過多，請於 %(minutes)s 分鐘後再試。")
    return ValidationError(message, code="throttled", params={"minutes": minutes})


def check(scope, request, name):
    """Raise the lockout error when the subject or the caller's address is locked."""
    locks = cache.get_many([lock for _limit, _counter, lock in _keys(scope, request, name)])
    if locks:
        raise _locked_error(scope, max(locks.values()))


def count(scope, request, name):
    """Count one attempt (a failed sign-in, a reset request) for the subject and the caller's address. Returns the
    lockout error when this attempt reached a limit (the lock is then in place), else None."""
    window = getattr(settings, scope.window)
    reached = None
    for limit, counter, lock in _keys(scope, request, name):
        if cache.add(counter, 1, window):
            attempts = 1
        else:
            try:
                attempts = cache.incr(counter)
            except ValueError:  # expired between add() and incr(): this attempt starts a new window
                cache.set(counter, 1, window)
                attempts = 1
            cache.touch(counter, window)  # the database cache's incr() resets the timeout to its default
        if attempts >= getattr(settings, limit):
            until = time.time() + window
            cache.set(lock, until, window)
            cache.delete(counter)
            reached = _locked_error(scope, until)
    return reached


def forget(scope, name):
    """A successful sign-in clears the account's failures (not the address's: one good account must not reset
    the count of an address trying many)."""
    (_limit, counter, _lock), *_ip = _keys(scope, None, name)
    cache.delete(counter)
