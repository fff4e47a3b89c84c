"""Done when (issue 17): a coupon card sent on LINE (a keyword reply through the real webhook) → the customer
claims a code → taps redeem → the website posts the binding with the token → bound with method coupon and counted
in analytics' binding sources → a checkout with the code counts as a redemption."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts import handoff
from cdp.models import Binding, Contact, ContactSource
from cdp.tests.factories import ChannelFactory
from coupons import services
from coupons.models import Claim
from messaging.models import OutboundMessage
from messaging.services import outbox
from messaging.tests.factories import KeywordRuleFactory
from messaging.tests.fake_platform import FakePlatform
from messaging.tests.payloads import LINE_SECRET, line_body, line_text, post_line

from .factories import make_campaign

pytestmark = pytest.mark.django_db

U1 = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture(autouse=True)
def _q_sync(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def fake(settings):
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        server.route("POST", "/v2/bot/message/push", server.line_push)
        server.route("POST", "/v2/bot/message/reply", server.line_reply)
        yield server


def _drain():
    for consumer in ("analytics.tasks.on_customer_events", "coupons.tasks.on_customer_events"):
        handoff.drain(consumer)


def test_card_on_line_claim_redeem_bind_and_checkout(client, api, team, fake, settings):
    settings.PUBLIC_BASE_URL = "http://testserver"
    line = ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})
    campaign = make_campaign(team, image_url="https://cdn.example/spring.png")
    services.generate_codes(campaign, 5, prefix="SP")
    KeywordRuleFactory(team=team, keywords=["領券"], reply_text="", reply_module=campaign.module)

    # 1. The customer types the coupon keyword (a new contact: source coupon); the reply is the coupon card.
    assert post_line(client, line, line_body(line_text("領券"))).status_code == 200
    assert outbox.dispatch() == 1
    contact = Contact.objects.get(external_id=U1)
    assert contact.source == ContactSource.COUPON
    card = OutboundMessage.objects.get(contact=contact)
    assert card.status == "sent" and card.trackable  # LINE: an open-tracked card type (seed 003)
    (sent,) = fake.delivered()  # the reply token was not issued by the fake: the outbox pushed instead
    bubble = sent["json"]["messages"][0]["contents"]
    assert bubble["hero"]["url"].startswith("http://testserver/o/")  # the open pixel is the card's image
    button = bubble["footer"]["contents"][0]["action"]
    assert button["label"] == "領取優惠券" and button["uri"].startswith("http://testserver/r/")

    # 2. The customer taps the claim button: the tracked redirect leads to the claim page, which assigns a code.
    claim_url = client.get(urlsplit(button["uri"]).path).headers["Location"]
    page = client.get(urlsplit(claim_url).path, HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert page.status_code == 200
    claim = Claim.objects.get()
    assert claim.code.startswith("SP") and claim.contact_id == contact.pk
    html = page.content.decode()
    assert claim.code in html and "前往官網使用" in html and "結帳時輸入優惠碼" in html
    # Opening it again shows the same code (idempotent per customer and campaign).
    assert claim.code in client.get(urlsplit(claim_url).path).content.decode() and Claim.objects.count() == 1

    # 3. Redeem: the brand's website with the code and a binding link token (method coupon).
    redeem = re.search(r'href="([^"]+)"[^>]*data-testid="redeem"', html).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(redeem).query)
    assert redeem.startswith("https://shop.example/coupon?") and query["coupon"] == [claim.code]
    token = query["cdp_binding"][0]

    # 4. The website's member logs in; its server posts the binding with the token.
    body = api.post(
        "/api/v1/events",
        {"events": [{"id": "bind-1", "type": "binding", "data": {"token": token, "member_id": "M-100"}}]},
        format="json",
    ).json()
    assert body == {"accepted": 1, "duplicates": 0, "rejected": []}

    # 5. Bound with method coupon; analytics' binding sources count it under 優惠券.
    binding = Binding.objects.get()
    assert binding.contact_id == contact.pk and binding.method == "coupon"
    _drain()
    month = timezone.localtime(binding.bound_at, team.zone).strftime("%Y-%m")
    sources = api.get(f"/api/v1/analytics/binding-sources?month={month}").json()
    assert {m["method"]: m["count"] for m in sources["methods"]}["coupon"] == 1

    # 6. A checkout that used the code counts as the redemption, with its revenue.
    body = api.post(
        "/api/v1/events",
        {
            "events": [
                {
                    "id": "order-1",
                    "type": "checkout.completed",
                    "data": {"member_id": "M-100", "order_id": "SO-1", "amount": "900", "coupon_code": claim.code},
                }
            ]
        },
        format="json",
    ).json()
    assert body["accepted"] == 1, body
    _drain()
    claim.refresh_from_db()
    assert claim.redeemed_at is not None and claim.order_id == "SO-1"
    stats = api.get(f"/api/v1/coupons/{campaign.pk}/statistics").json()
    assert stats == {
        "sent": 1,
        "claimed": 1,
        "claimed_codes": 1,
        "claim_rate": 100.0,
        "redeemed": 1,
        "redemption_rate": 100.0,
        "bindings": 1,
        "revenue": {"TWD": "900.00"},
    }
