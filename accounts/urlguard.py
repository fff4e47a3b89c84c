"""Requests to a URL a team typed in (the outbound webhook) never reach this server, its private network or a
cloud metadata service.

Checked twice. When the URL is saved, `validate_outbound_url` (a validator on the model field, so the console
form, the admin and any serializer share it). When a request is sent, `post` resolves the host name once,
checks every address, and sends over a connection to the checked address (pinned; core.httpclient pools
connections per address, so a kept-alive connection is always to an address checked when it was opened): a DNS
answer that changes between the check and the connection (rebinding) cannot move the request. https keeps SNI
and certificate verification against the host name. Redirects are not followed and no proxy is used.
"""

import functools
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core import httpclient

BLOCKED_HOST_NAMES = {"localhost", "metadata", "metadata.google.internal", "metadata.goog"}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class URLRefused(Exception):
    """The URL or an address it resolves to is not one we may send to. `transient`: DNS may answer later."""

    def __init__(self, message, code, transient=False):
        super().__init__(str(message))
        self.message, self.code, self.transient = message, code, transient


def address_refusal(address):
    """Why an address may not be contacted (a short reason), or None when it is a public unicast address."""
    if address in METADATA_ADDRESSES:
        return "metadata"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded)
    if settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS:
        return None
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not public", not address.is_global),
    ):
        if flag:
            return reason
    return None


def _embedded_ipv4(address):
    """The IPv4 address an IPv6 form carries (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4)."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def check_url(url):
    """Scheme, host name and port of a URL we may send to; raises URLRefused. Does not resolve."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise URLRefused(_("網址格式不正確。"), "invalid") from error
    plain_http = settings.DEBUG or settings.OUTBOUND_WEBHOOK_ALLOW_HTTP
    schemes = {"http", "https"} if plain_http else {"https"}
    if parts.scheme not in schemes:
        raise URLRefused(_("網址必須以 https:// 開頭。"), "https_required")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise URLRefused(_("網址缺少主機名稱。"), "invalid")
    if host in BLOCKED_HOST_NAMES or host.endswith(".localhost"):
        raise URLRefused(_("不可傳送到本機或雲端中繼資料位址（%(host)s）。") % {"host": host}, "blocked_host")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def resolve(host, port):
    """Resolve once; every address must be allowed. Returns [(family, sockaddr)], the first one to connect to."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise URLRefused(_("無法解析主機名稱 %(host)s。") % {"host": host}, "unresolvable", transient=True) from error
    targets = []
    for family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        reason = address_refusal(address)
        if reason:
            raise URLRefused(
                _("不可傳送到內部網路位址：%(host)s 解析為 %(address)s（%(reason)s）。")
                % {"host": host, "address": address, "reason": reason},
                "blocked_address",
            )
        targets.append((family, sockaddr))
    if not targets:
        raise URLRefused(_("無法解析主機名稱 %(host)s。") % {"host": host}, "unresolvable", transient=True)
    return targets


def validate_outbound_url(value):
    """Model-field validator: the URL's scheme and host, and every address its name resolves to now."""
    if not value:
        return
    try:
        _scheme, host, port = check_url(value)
        resolve(host, port)
    except URLRefused as refused:
        raise ValidationError(refused.message, code=refused.code) from None


@functools.cache
def ssl_context():
    """One TLS context for the process, so pooled https connections are shared (the pool key includes it)."""
    return ssl.create_default_context()


def post(url, body, headers, timeout):
    """POST `body` to `url` through the checks above; returns the response status. Raises URLRefused, or
    httpclient.NetworkError for network failures (the caller decides whether to retry)."""
    scheme, host, port = check_url(url)
    _family, sockaddr = resolve(host, port)[0]
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    response = httpclient.request_pinned(
        "POST",
        scheme=scheme,
        host=host,
        port=port,
        address=sockaddr[0].split("%")[0],
        path=path,
        body=body,
        headers=headers,
        timeout=timeout,
        ssl_context=ssl_context() if scheme == "https" else None,
    )
    return response.status
