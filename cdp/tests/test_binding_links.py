"""Binding links: the signed token, POST /api/v1/contacts/{id}/binding-link and the events API's token binding."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.utils import timezone

from cdp.models import Binding, Contact, Customer
from cdp.services import binding_links
from cdp.tests.factories import ChannelFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(team):
    return ContactFactory(channel=ChannelFactory(team=team, kind="line"), external_id="U-link")


def _link(api, contact, **body):
    return api.post(f"/api/v1/contacts/{contact.pk}/binding-link", body, format="json")


def _bind(api, data, event_id="b1"):
    return api.post("/api/v1/events", {"events": [{"id": event_id, "type": "binding", "data": data}]}, format="json")


def test_link_then_binding_with_the_token_binds_that_contact_with_the_links_method(api, contact):
    response = _link(api, contact, method="coupon", url="https://shop.example/landing?utm=chat")
    assert response.status_code == 200, response.content
    body = response.json()
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["utm"] == ["chat"] and query[binding_links.PARAM] == [body["token"]]
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)
    # The link set the method: the site's own "method" does not override it.
    result = _bind(api, {"token": body["token"], "member_id": "M-77", "method": "binding_plugin"}).json()
    assert result == {"accepted": 1, "duplicates": 0, "rejected": []}
    binding = Binding.objects.get()
    assert binding.contact_id == contact.pk and binding.method == "coupon" and binding.member_id == "M-77"
    assert Customer.objects.get(pk=Contact.objects.get(pk=contact.pk).customer_id).member_id == "M-77"


def test_a_link_without_method_takes_the_events_method(api, contact):
    token = _link(api, contact, url="https://shop.example/").json()["token"]
    assert _bind(api, {"token": token, "email": "amy@example.com"}).json()["rejected"][0]["code"] == "invalid_method"
    assert not Binding.objects.exists()
    assert (
        _bind(api, {"token": token, "email": "amy@example.com", "method": "chatbot_to_website"}, "b2").json()[
            "accepted"
        ]
        == 1
    )
    assert Binding.objects.get().method == "chatbot_to_website"


def test_expired_forged_and_other_team_tokens_are_rejected_with_a_code(api, other_api, team, other_team, contact):
    team.binding_link_days = 1
    team.save()
    token = binding_links.make_token(contact, "coupon")
    old = signing.TimestampSigner(salt=binding_links.SALT)
    old.timestamp = lambda: signing.b62_encode(int((timezone.now() - timedelta(days=2)).timestamp()))
    expired = old.sign_object({"t": team.pk, "ch": contact.channel_id, "c": contact.pk, "m": "coupon"}, compress=True)
    forged = signing.TimestampSigner(key="not-the-secret", salt=binding_links.SALT).sign_object(
        {"t": team.pk, "ch": contact.channel_id, "c": contact.pk}
    )
    other_salt = signing.TimestampSigner(salt="another.purpose").sign_object({"t": team.pk, "c": contact.pk})
    cases = {
        "expired_token": expired,
        "invalid_token": forged,
        "invalid_token-salt": other_salt,
        "invalid_token-text": "nonsense",
    }
    events = [
        {"id": name, "type": "binding", "data": {"token": value, "member_id": "M-1", "method": "coupon"}}
        for name, value in cases.items()
    ]
    body = api.post("/api/v1/events", {"events": events}, format="json").json()
    assert {r["id"]: r["code"] for r in body["rejected"]} == {name: name.split("-")[0] for name in cases}
    assert all("data.token" in r["errors"] for r in body["rejected"])
    # Team B cannot use team A's token, even though it is genuine.
    other = _bind(other_api, {"token": token, "member_id": "M-1"}).json()
    assert other["rejected"][0]["code"] == "foreign_token"
    assert not Binding.objects.exists()
    assert Customer.objects.filter(member_id="M-1").count() == 0


def test_binding_link_bad_input_and_other_teams_contact(api, other_api, contact):
    assert _link(api, contact, url="javascript:alert(1)").status_code == 400
    assert _link(api, contact, url="https://shop.example/", method="nope").status_code == 400
    assert _link(other_api, contact, url="https://shop.example/").status_code == 404


def test_site_script_is_a_static_file_reading_the_same_parameter():
    from django.contrib.staticfiles import finders

    text = open(finders.find("cdp/binding.js"), encoding="utf-8").read()
    assert f'var PARAM = "{binding_links.PARAM}"' in text and '"binding"' in text
