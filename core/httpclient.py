"""The one pooled HTTP client of a process, for every request the app sends out: the channel adapters (LINE, Meta,
WhatsApp; messaging.adapters.base) and the outbound webhook (through urlguard, which pins the checked address).

urllib3's PoolManager keeps connections alive per host (HTTP_CLIENT_CONNECTIONS_PER_HOST each, for the
HTTP_CLIENT_HOSTS most recently used hosts) and is thread-safe. It is made once per process, lazily, and made
again in a forked child (gunicorn and django-q2 fork their workers: a socket shared with the parent would mix two
processes' answers). No retries and no redirects: the outbox and the webhook worker own retries (LINE retry keys,
webhook delivery ids), and a redirect would carry a Bearer token elsewhere.

A response body is read up to a limit; a longer one is cut and its connection closed instead of reused.
"""

import json
import os
import threading
from dataclasses import dataclass

import urllib3
from django.conf import settings

MAX_BODY_BYTES = 1 << 20  # platform answers are small JSON documents
STATUS_ONLY_BODY_BYTES = 1 << 16  # a webhook receiver's answer: read only to keep the connection


class NetworkError(Exception):
    """No HTTP answer: the connection, TLS, or a read failed or timed out. The caller decides whether to retry."""


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict  # lower-case names

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


_lock = threading.Lock()
_manager = None


def pool_manager():
    """This process's PoolManager (made on first use)."""
    global _manager
    if _manager is None:
        with _lock:
            if _manager is None:
                _manager = urllib3.PoolManager(
                    num_pools=settings.HTTP_CLIENT_HOSTS,
                    maxsize=settings.HTTP_CLIENT_CONNECTIONS_PER_HOST,
                    block=False,  # more threads than connections: extra connections, closed after use
                    retries=False,
                )
    return _manager


def _forget_after_fork():
    global _manager, _lock
    _manager, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def request(method, url, *, body=None, headers=None, timeout=None):
    """Send one request to `url` (a URL from settings, never one a team typed: those go through urlguard)."""
    timeout = settings.HTTP_CLIENT_TIMEOUT_SECONDS if timeout is None else timeout
    return _send(pool_manager().urlopen, method, url, body, headers, timeout, MAX_BODY_BYTES)


def request_pinned(method, *, scheme, host, port, address, path, body, headers, timeout, ssl_context=None):
    """Send one request over a connection to `address` (already checked by the caller), while the Host header,
    SNI and the certificate check use `host`. Connections are pooled per address (and, over https, per host
    name), so a reused connection always goes to an address that was checked. Only the status is meant to be
    read: the body is read (briefly) just to keep the connection."""
    pool_kwargs = {"server_hostname": host, "ssl_context": ssl_context} if scheme == "https" else None
    pool = pool_manager().connection_from_host(address, port, scheme, pool_kwargs=pool_kwargs)
    default_port = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    headers = {**headers, "Host": name if port == default_port else f"{name}:{port}"}
    return _send(pool.urlopen, method, path, body, headers, timeout, STATUS_ONLY_BODY_BYTES)


def _send(urlopen, method, url, body, headers, timeout, limit):
    try:
        response = urlopen(
            method,
            url,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            preload_content=False,
        )
        try:
            data = response.read(limit)
            if not _read_to_the_end(response):
                response.close()  # the rest is not read: this connection cannot carry another request
        finally:
            response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise NetworkError(str(error)) from error
    return Response(response.status, data, {k.lower(): v for k, v in response.headers.items()})


def _read_to_the_end(response):
    if response.length_remaining is not None:
        return response.length_remaining == 0
    return response.read(1) == b""
