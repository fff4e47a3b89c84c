"""The outbound webhook (issue 23 item 12): no request to internal addresses (at save and at send, after DNS,
rebinding included), every delivery signed as the README documents, retried with backoff, never lost."""

import json
import re
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import outbound_webhooks, tasks, urlguard
from accounts.models import OutboundWebhookDelivery, Team
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"
EVENT = {"type": "customer.attribute_changed", "customer_id": 7, "key": "level", "value": "白金會員"}


class Receiver:
    """A local HTTP receiver on 127.0.0.1 answering the queued statuses (then 200) and keeping raw bodies.
    `keep_alive`: HTTP/1.1 with connections kept open; `connections` counts the TCP connections accepted."""

    def __init__(self, statuses=(), keep_alive=False, address="127.0.0.1", port=0):
        self.requests = []
        self.statuses = list(statuses)
        self.connections = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self):
                receiver.connections += 1
                super().setup()

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def local_receiver_allowed(settings):
    """What a developer sets to test against a receiver on this machine (off by default)."""
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    settings.OUTBOUND_WEBHOOK_ALLOW_HTTP = True


class FakeDNS:
    """Names map to a list of answers, one per lookup (the last one repeats); IP literals resolve for real (no
    network). Every lookup of a faked name is recorded."""

    def __init__(self, real):
        self.real, self.answers, self.lookups = real, {}, []

    def __setitem__(self, name, addresses):
        self.answers[name] = list(addresses)

    def getaddrinfo(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        queue = self.answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]


@pytest.fixture
def dns(monkeypatch):
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def set_url(team, url):
    """Store a URL without the save-time check: a URL saved before the guard, or whose DNS changed since."""
    Team.objects.filter(pk=team.pk).update(outbound_webhook_url=url, outbound_webhook_secret="whsec_test")
    team.refresh_from_db()


def deliver_one(team, now=None):
    with transaction.atomic():
        outbound_webhooks.enqueue_many([(team.pk, EVENT)])
    outbound_webhooks.dispatch(now=now)
    return OutboundWebhookDelivery.objects.get(team=team)


def readme_verifier():
    """The receiver's verification procedure exactly as the README documents it."""
    readme = (django_settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?def verify_socialcdp_signature.*?)```", readme, re.S).group(1)
    namespace = {}
    exec(code, namespace)  # noqa: S102 - our own README's snippet
    return namespace["verify_socialcdp_signature"]


UNSAFE_HOSTS = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[fd00:ec2::254]",
    "[fe80::1]",
    "[fc00::5]",
    "[64:ff9b::a00:1]",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "100.64.0.1",
    "localhost",
    "metadata.google.internal",
    "internal.example.com",  # resolves to 127.0.0.1
]


# ---------------------------------------------------------------------------------------------- save time
@pytest.mark.parametrize("host", UNSAFE_HOSTS)
def test_settings_form_refuses_internal_addresses(client, team, dns, host):
    dns["internal.example.com"] = ["127.0.0.1"]
    owner = MembershipFactory(team=team, role="owner").user
    client.force_login(owner)
    data = {
        "name": "Team A",
        "time_zone": "Asia/Taipei",
        "currency": "TWD",
        "default_region": "TW",
        "line_message_cost": "0.2",
        "whatsapp_message_cost": "0.5",
        "attribution_window_days": "7",
        "outbound_webhook_url": f"https://{host}/hook",
    }
    response = client.post(reverse("team-settings"), data)
    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    team.refresh_from_db()
    assert team.outbound_webhook_url == ""


@pytest.mark.parametrize("host", UNSAFE_HOSTS)
def test_admin_and_model_validation_refuse_internal_addresses(team, dns, host):
    dns["internal.example.com"] = ["127.0.0.1"]
    with pytest.raises(ValidationError) as guard:
        urlguard.validate_outbound_url(f"https://{host}/hook")
    assert guard.value.code in {"blocked_address", "blocked_host"}
    team.outbound_webhook_url = f"https://{host}/hook"
    with pytest.raises(ValidationError) as refused:
        team.full_clean()
    assert "outbound_webhook_url" in refused.value.message_dict
    superuser = UserFactory(username="ops@example.com", is_staff=True, is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    form_class = admin.site._registry[Team].get_form(request, team)
    data = {field: getattr(team, field) for field in form_class.base_fields if hasattr(team, field)}
    data.update(outbound_webhook_url=f"https://{host}/hook", match_by_phone="on", match_by_email="on")
    form = form_class(data=data, instance=Team.objects.get(pk=team.pk))
    assert not form.is_valid()
    assert "outbound_webhook_url" in form.errors


def test_a_public_https_url_is_saved_with_a_generated_secret(console, team, dns):
    dns["hooks.example.com"] = [PUBLIC]
    data = {
        "name": "Team A",
        "time_zone": "Asia/Taipei",
        "currency": "TWD",
        "default_region": "TW",
        "line_message_cost": "0.2",
        "whatsapp_message_cost": "0.5",
        "attribution_window_days": "7",
        "outbound_webhook_url": "http://hooks.example.com/hook",
    }
    response = console.post(reverse("team-settings"), data)
    assert response.status_code == 200 and "https:// 開頭" in response.content.decode()  # https outside DEBUG
    team.refresh_from_db()
    assert team.outbound_webhook_url == ""
    data["outbound_webhook_url"] = "https://hooks.example.com/hook"
    assert console.post(reverse("team-settings"), data).status_code == 302
    team.refresh_from_db()
    assert team.outbound_webhook_url == "https://hooks.example.com/hook"
    assert team.outbound_webhook_secret.startswith("whsec_") and len(team.outbound_webhook_secret) > 40
    page = console.get(reverse("team-settings")).content.decode()
    assert team.outbound_webhook_secret in page
    rotated = console.post(reverse("outbound-webhook-rotate-secret"))
    assert rotated.status_code == 200
    old = team.outbound_webhook_secret
    team.refresh_from_db()
    assert team.outbound_webhook_secret != old and team.outbound_webhook_secret in rotated.content.decode()


def test_only_team_managers_rotate_the_secret(client, team):
    set_url(team, "https://hooks.example.com/hook")
    client.force_login(MembershipFactory(team=team, role="marketer").user)
    assert client.post(reverse("outbound-webhook-rotate-secret")).status_code == 403
    team.refresh_from_db()
    assert team.outbound_webhook_secret == "whsec_test"


# ---------------------------------------------------------------------------------------------- send time
@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.8", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "name"])
def test_send_refuses_internal_addresses_after_resolution(team, receiver, dns, settings, host):
    settings.OUTBOUND_WEBHOOK_ALLOW_HTTP = True  # so a bypass would reach the receiver; private hosts refused
    dns["internal.example.com"] = ["127.0.0.1"]
    host = "internal.example.com" if host == "name" else host
    set_url(team, f"http://{host}:{receiver.port}/hook")
    delivery = deliver_one(team)
    assert receiver.requests == []
    assert delivery.state == "failed" and delivery.attempts == 1
    assert any(reason in delivery.last_error for reason in ("loopback", "private", "metadata"))


def test_dns_rebinding_connects_to_the_checked_address(team, receiver, dns, settings, monkeypatch):
    """First answer public, every later one loopback: the request goes to the address that was checked."""
    settings.OUTBOUND_WEBHOOK_ALLOW_HTTP = True
    dns["rebind.example.com"] = [PUBLIC, "127.0.0.1"]
    set_url(team, f"http://rebind.example.com:{receiver.port}/hook")
    connected = []

    class RecordingSocket(socket.socket):
        def connect(self, address):
            connected.append(address[0])
            raise ConnectionRefusedError("no internet in tests")

    monkeypatch.setattr(socket, "socket", RecordingSocket)
    delivery = deliver_one(team)
    assert connected == [PUBLIC]
    assert dns.lookups == ["rebind.example.com"]  # resolved once, no second lookup to rebind
    assert receiver.requests == []
    assert delivery.state == "pending" and delivery.next_attempt_at > timezone.now()  # a network error: retried


def test_a_name_with_one_private_address_among_public_ones_is_refused(team, monkeypatch):
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 443)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    with pytest.raises(urlguard.URLRefused) as refused:
        urlguard.resolve("mixed.example.com", 443)
    assert refused.value.code == "blocked_address"


def test_metadata_stays_refused_when_private_hosts_are_allowed(team, local_receiver_allowed):
    set_url(team, "http://169.254.169.254/latest/meta-data/")
    assert deliver_one(team).state == "failed"


def test_redirects_are_not_followed(team, local_receiver_allowed, receiver):
    receiver.statuses = [302]
    set_url(team, f"http://127.0.0.1:{receiver.port}/hook")
    delivery = deliver_one(team)
    assert len(receiver.requests) == 1
    assert delivery.state == "failed" and delivery.last_status_code == 302


# ---------------------------------------------------------------------------------------------- pooled client
def test_two_deliveries_to_one_receiver_reuse_one_connection(team, local_receiver_allowed):
    with Receiver(keep_alive=True) as receiver:
        set_url(team, f"http://127.0.0.1:{receiver.port}/hook")
        with transaction.atomic():
            outbound_webhooks.enqueue_many([(team.pk, EVENT), (team.pk, EVENT)])
        assert outbound_webhooks.dispatch() == 2
    assert len(receiver.requests) == 2 and receiver.connections == 1
    assert set(OutboundWebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert receiver.requests[0]["headers"]["Host"] == f"127.0.0.1:{receiver.port}"


def test_a_kept_alive_connection_does_not_skip_the_address_check(team, dns, settings):
    """The guard runs on every send: a name whose address is refused now is refused even though a pooled
    connection to the address it had is still open."""
    settings.OUTBOUND_WEBHOOK_ALLOW_HTTP = True
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    dns["hooks.example.test"] = ["127.0.0.1"]
    with Receiver(keep_alive=True) as receiver:
        set_url(team, f"http://hooks.example.test:{receiver.port}/hook")
        assert deliver_one(team).state == "delivered"
        settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = False
        OutboundWebhookDelivery.objects.all().delete()
        delivery = deliver_one(team)
    assert delivery.state == "failed" and "loopback" in delivery.last_error
    assert (
        len(receiver.requests) == 1 and receiver.requests[0]["headers"]["Host"] == f"hooks.example.test:{receiver.port}"
    )


def test_a_name_that_moves_is_sent_to_its_new_checked_address_not_over_the_old_connection(team, dns, settings):
    """Connections are pooled per checked address: after the name's answer changes, the next delivery connects to
    the new address instead of reusing the kept-alive connection to the old one."""
    settings.OUTBOUND_WEBHOOK_ALLOW_HTTP = True
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    dns["moving.example.test"] = ["127.0.0.1", "127.0.0.2"]
    with Receiver(keep_alive=True) as old:
        with Receiver(keep_alive=True, address="127.0.0.2", port=old.port) as new:
            set_url(team, f"http://moving.example.test:{old.port}/hook")
            assert deliver_one(team).state == "delivered"
            OutboundWebhookDelivery.objects.all().delete()
            assert deliver_one(team).state == "delivered"
    assert len(old.requests) == 1 and len(new.requests) == 1
    assert dns.lookups == ["moving.example.test"] * 2


# ---------------------------------------------------------------------------------------------- signature
def test_every_delivery_is_signed_and_verifies_as_documented(team, local_receiver_allowed, receiver):
    team.outbound_webhook_url = f"http://127.0.0.1:{receiver.port}/hook"
    team.save()
    secret = team.outbound_webhook_secret
    assert secret  # generated with the URL: never unsigned deliveries
    delivery = deliver_one(team)
    assert delivery.state == "delivered" and delivery.last_status_code == 200 and delivery.delivered_at
    (request,) = receiver.requests
    body, header = request["body"], request["headers"]["X-SocialCDP-Signature"]
    assert json.loads(body) == {**EVENT, "delivery_id": delivery.pk}
    assert request["headers"]["X-SocialCDP-Delivery"] == str(delivery.pk)
    verify = readme_verifier()
    assert verify(secret, body, header)
    assert not verify(secret, body.replace(b"7", b"8"), header)
    assert not verify("whsec_other", body, header)
    stale = outbound_webhooks.sign(secret, body, int(time.time()) - 301)
    assert not verify(secret, body, stale)


def test_a_team_without_a_secret_gets_one_before_sending(team, local_receiver_allowed, receiver):
    Team.objects.filter(pk=team.pk).update(outbound_webhook_url=f"http://127.0.0.1:{receiver.port}/hook")
    team.refresh_from_db()
    assert team.outbound_webhook_secret == ""
    deliver_one(team)
    team.refresh_from_db()
    (request,) = receiver.requests
    assert readme_verifier()(team.outbound_webhook_secret, request["body"], request["headers"]["X-SocialCDP-Signature"])


# ---------------------------------------------------------------------------------------------- retries
def test_5xx_is_retried_with_backoff_then_delivered(team, local_receiver_allowed):
    with Receiver(statuses=[503, 429]) as receiver:
        set_url(team, f"http://127.0.0.1:{receiver.port}/hook")
        before = timezone.now()
        delivery = deliver_one(team)
        assert delivery.state == "pending" and delivery.attempts == 1 and delivery.last_status_code == 503
        assert timedelta(seconds=29) < delivery.next_attempt_at - before < timedelta(seconds=40)
        assert outbound_webhooks.dispatch() == 0  # not due yet
        outbound_webhooks.dispatch(now=delivery.next_attempt_at + timedelta(seconds=1))
        delivery.refresh_from_db()
        assert delivery.state == "pending" and delivery.attempts == 2 and delivery.last_status_code == 429
        assert delivery.next_attempt_at - timezone.now() > timedelta(seconds=55)  # 60 s: doubled
        outbound_webhooks.dispatch(now=delivery.next_attempt_at + timedelta(seconds=1))
        delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-SocialCDP-Delivery"] for r in receiver.requests}) == 1


def test_retries_stop_after_max_attempts(team, local_receiver_allowed, settings):
    settings.OUTBOUND_WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver(statuses=[500, 500, 500]) as receiver:
        set_url(team, f"http://127.0.0.1:{receiver.port}/hook")
        delivery = deliver_one(team)
        outbound_webhooks.dispatch(now=delivery.next_attempt_at + timedelta(seconds=1))
        delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 2 and len(receiver.requests) == 2


def test_a_client_error_fails_at_once(team, local_receiver_allowed):
    with Receiver(statuses=[400]) as receiver:
        set_url(team, f"http://127.0.0.1:{receiver.port}/hook")
        delivery = deliver_one(team)
    assert delivery.state == "failed" and delivery.attempts == 1 and delivery.last_status_code == 400


def test_an_unreachable_receiver_is_retried(team, local_receiver_allowed):
    with Receiver() as gone:
        port = gone.port
    set_url(team, f"http://127.0.0.1:{port}/hook")
    delivery = deliver_one(team)
    assert delivery.state == "pending" and delivery.attempts == 1 and "Connection" in delivery.last_error


# ---------------------------------------------------------------------------------------------- durability
def test_a_killed_worker_is_retried_by_the_schedule(team, local_receiver_allowed, receiver):
    set_url(team, f"http://127.0.0.1:{receiver.port}/hook")
    with transaction.atomic():
        outbound_webhooks.enqueue_many([(team.pk, EVENT)])
    dead = outbound_webhooks.claim()  # a worker claims the row, then is killed before sending
    assert dead is not None
    assert outbound_webhooks.dispatch() == 0  # its lease still holds: nobody else sends it
    OutboundWebhookDelivery.objects.filter(pk=dead.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    tasks.ensure_schedules()
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="accounts: outbound webhooks")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1
    assert import_string(schedule.func)() == 1
    delivery = OutboundWebhookDelivery.objects.get(pk=dead.pk)
    assert delivery.state == "delivered" and delivery.attempts == 2 and len(receiver.requests) == 1
    # The presumed-dead worker wakes up late: its outcome no longer applies (the lease moved on).
    receiver.statuses = [500]
    outbound_webhooks.send(dead)
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 2


def test_deliveries_are_recorded_in_the_callers_transaction(team):
    set_url(team, "https://hooks.example.com/hook")
    with pytest.raises(RuntimeError), transaction.atomic():
        outbound_webhooks.enqueue_many([(team.pk, EVENT)])
        raise RuntimeError("the change that caused it rolled back")
    assert not OutboundWebhookDelivery.objects.exists()


def test_settings_page_lists_the_teams_deliveries_only(console, team, other_team):
    OutboundWebhookDelivery.objects.create(team=team, event_type="customer.attribute_changed", payload=EVENT)
    OutboundWebhookDelivery.objects.create(team=other_team, event_type="other.team_event", payload=EVENT)
    page = console.get(reverse("team-settings")).content.decode()
    assert "customer.attribute_changed" in page and "other.team_event" not in page


# ---------------------------------------------------------------------------------------------- https
def self_signed(tmp_path, name):
    """A certificate for `name` (and its key) in PEM files, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.mark.parametrize("served_name", ["hooks.example.test", "someone-else.example.test"])
def test_https_to_the_pinned_address_verifies_the_host_name(team, dns, settings, monkeypatch, tmp_path, served_name):
    """The connection goes to the checked address, while SNI and the certificate check use the URL's host name."""
    import ssl

    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True  # the receiver is on 127.0.0.1; https stays required
    cert_file, key_file = self_signed(tmp_path, served_name)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    sni = []
    server_context.sni_callback = lambda sock, name, context: sni.append(name)
    monkeypatch.setattr(urlguard, "ssl_context", lambda: ssl.create_default_context(cafile=str(cert_file)))
    with Receiver() as receiver:
        receiver.server.socket = server_context.wrap_socket(receiver.server.socket, server_side=True)
        dns["hooks.example.test"] = ["127.0.0.1"]
        set_url(team, f"https://hooks.example.test:{receiver.port}/hook")
        delivery = deliver_one(team)
    assert sni == ["hooks.example.test"]
    if served_name == "hooks.example.test":
        assert delivery.state == "delivered" and len(receiver.requests) == 1
    else:
        assert delivery.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
        assert receiver.requests == []


@pytest.mark.postgres
@pytest.mark.skipif(not django_settings.IS_POSTGRES, reason="needs PostgreSQL row locks (SKIP LOCKED)")
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_a_row_another_worker_holds(team):
    """Workers claiming at once never wait on, nor share, a row."""
    from django.db import connection

    first, second = (OutboundWebhookDelivery.objects.create(team=team, event_type="e", payload=EVENT) for _ in range(2))
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(OutboundWebhookDelivery.objects.select_for_update().filter(pk=first.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a claim that waited on the lock would fail here
        claimed = outbound_webhooks.claim()
        assert claimed.pk == second.pk and claimed.attempts == 1
    finally:
        release.set()
        thread.join()
    assert outbound_webhooks.claim().pk == first.pk
    assert outbound_webhooks.claim() is None


def test_a_failing_receiver_does_not_hold_the_workers_for_other_teams(team, other_team, local_receiver_allowed):
    """Team A's receiver answers 503: one request per backoff step for all its deliveries; team B is served."""
    with Receiver(statuses=[503] * 10) as failing, Receiver() as healthy:
        set_url(team, f"http://127.0.0.1:{failing.port}/hook")
        set_url(other_team, f"http://127.0.0.1:{healthy.port}/hook")
        with transaction.atomic():
            outbound_webhooks.enqueue_many([(team.pk, EVENT)] * 5 + [(other_team.pk, EVENT)])
        assert outbound_webhooks.dispatch() == 2
        held = OutboundWebhookDelivery.objects.filter(team=team)
        assert len(failing.requests) == 1 and len(healthy.requests) == 1
        assert OutboundWebhookDelivery.objects.get(team=other_team).state == "delivered"
        assert set(held.values_list("state", flat=True)) == {"pending"}
        assert held.values("next_attempt_at").distinct().count() == 1  # all wait for the one retry
        assert sorted(held.values_list("attempts", flat=True)) == [0, 0, 0, 0, 1]
        failing.statuses = []  # the receiver recovers
        outbound_webhooks.dispatch(now=held.first().next_attempt_at + timedelta(seconds=1))
    assert set(held.values_list("state", flat=True)) == {"delivered"}
    assert len(failing.requests) == 6
