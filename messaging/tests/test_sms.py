"""SMS (seed 004): segments, the sandbox / Twilio / Mitake adapters against local fakes, debit and refund, quick SMS,
phone binding by code, delivery receipts."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.permissions import Role
from billing import services as ledger
from billing.models import Account, Transaction
from cdp.models import Binding, Customer
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.adapters.sms import segments
from messaging.models import OutboundMessage, PhoneBindingCode
from messaging.services import channels as channel_service
from messaging.services import outbox, sms
from messaging.services.sms_receipts import twilio_signature
from tests.factories import MembershipFactory, api_client_for

from .fake_sms import FakeSmsProvider

pytestmark = pytest.mark.django_db

E164 = "+886912345678"


def top_up(team, amount, key="t1"):
    return ledger.credit(team, Decimal(amount), type="top_up", idempotency_key=key)


@pytest.fixture
def contact(team):
    line = ChannelFactory(team=team, kind="line", is_sandbox=True)
    return ContactFactory(channel=line, phone=E164)


@pytest.fixture
def fake(settings):
    with FakeSmsProvider() as server:
        settings.MESSAGING_TWILIO_API_BASE = server.url
        settings.MESSAGING_MITAKE_API_BASE = server.url
        settings.PUBLIC_BASE_URL = "https://cdp.example.com"
        yield server


def twilio_channel(team):
    credentials = {"provider": "twilio", "account_sid": "AC123", "auth_token": "tok", "from_number": "+15005550006"}
    return channel_service.connect_channel(team=team, kind="sms", name="Twilio", credentials=credentials)


def mitake_channel(team):
    credentials = {"provider": "mitake", "username": "user1", "password": "pw1"}
    return channel_service.connect_channel(team=team, kind="sms", name="三竹", credentials=credentials)


def ledger_rows(team):
    return list(Transaction.objects.filter(team=team).order_by("id").values_list("type", "amount", "idempotency_key"))


# --- segments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters count twice
        ("€" * 81, 2),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("a" * 69 + "😀", 2),  # an emoji is two UTF-16 units
    ],
)
def test_segments_follow_gsm7_and_ucs2_limits(text, expected):
    assert segments(text) == expected


# --- sandbox: quick SMS, debit, grace ------------------------------------------------------------------------


def test_quick_sms_through_the_sandbox_debits_one_per_segment(team, contact):
    top_up(team, 10)
    message, created = sms.quick_send(team=team, contact=contact, text="中" * 71, actor="user:a")
    assert created and message.recipient == E164 and message.channel.kind == "sms" and message.channel.is_sandbox
    assert ledger.balance(team) == Decimal("8")
    assert ledger_rows(team)[-1] == ("sms_debit", Decimal("-2.0000"), f"sms:{message.pk}")
    txn = Transaction.objects.get(idempotency_key=f"sms:{message.pk}")
    assert (txn.feature, txn.channel, txn.quantity) == ("quick_sms", "line", 2)
    assert outbox.dispatch() == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.segments == 2 and message.cost == 2
    assert ledger.balance(team) == Decimal("8")  # the sandbox's count equals the estimate: nothing more


def test_the_same_key_sends_and_debits_once(team, contact):
    top_up(team, 10)
    first, _ = sms.quick_send(team=team, contact=contact, text="hi", idempotency_key="k1")
    again, created = sms.quick_send(team=team, contact=contact, text="hi", idempotency_key="k1")
    assert again.pk == first.pk and not created
    assert ledger.balance(team) == Decimal("9")


def test_below_grace_is_refused_and_nothing_is_debited(team, contact):
    Account.objects.update_or_create(team=team, defaults={"balance": Decimal("-5"), "grace_amount": Decimal("-3")})
    with pytest.raises(sms.SmsRefused) as refused:
        sms.quick_send(team=team, contact=contact, text="hi")
    assert refused.value.code == "balance_blocked" and "寬限" in refused.value.message
    assert not OutboundMessage.objects.filter(team=team).exists()
    assert not Transaction.objects.filter(team=team).exists()
    top_up(team, 10)  # a top-up lifts the block at once
    sms.quick_send(team=team, contact=contact, text="hi")
    assert ledger.balance(team) == Decimal("4")


def test_a_contact_without_a_phone_is_a_clear_error(team):
    bare = ContactFactory(channel=ChannelFactory(team=team, kind="line", is_sandbox=True))
    with pytest.raises(ValidationError) as error:
        sms.quick_send(team=team, contact=bare, text="hi")
    assert "phone" in error.value.message_dict


# --- Twilio ---------------------------------------------------------------------------------------------------


def test_twilio_send_in_its_format_and_its_segment_count_wins(team, contact, fake):
    channel = twilio_channel(team)
    top_up(team, 10)
    fake.twilio_accepts(segments="3")
    message, _ = sms.quick_send(team=team, contact=contact, text="hello")  # our estimate: 1
    assert ledger.balance(team) == Decimal("9")
    outbox.dispatch()
    request = fake.requests[-1]
    assert request["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert fake.basic_auth(request) == "AC123:tok"
    assert request["form"] == {
        "To": E164,
        "From": "+15005550006",
        "Body": "hello",
        "StatusCallback": f"https://cdp.example.com/webhooks/sms/{channel.pk}/",
    }
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id.startswith("SM")
    assert message.segments == 3 and message.cost == 3
    assert ledger.balance(team) == Decimal("7")
    assert [row[2] for row in ledger_rows(team)][-2:] == [f"sms:{message.pk}", f"sms:{message.pk}:extra"]


def test_extra_segments_of_an_accepted_sms_are_billed_even_below_grace(team, contact, fake):
    """The provider already sent it: the extra 則 are a forced debit, not a logged 'could not charge'."""
    twilio_channel(team)
    top_up(team, 1)
    fake.twilio_accepts(segments="4")
    message, _ = sms.quick_send(team=team, contact=contact, text="hello")  # 1 → 0
    ledger.credit(team, Decimal("-5"), type="adjustment", idempotency_key="adj")  # now below grace (0)
    assert ledger.is_blocked(team)
    outbox.dispatch()
    message.refresh_from_db()
    assert message.status == "sent" and message.segments == 4 and message.cost == 4
    assert ledger.balance(team) == Decimal("-8")
    assert ledger_rows(team)[-1] == ("sms_debit", Decimal("-3"), f"sms:{message.pk}:extra")


def test_twilio_rejection_is_refunded(team, contact, fake):
    twilio_channel(team)
    top_up(team, 10)
    fake.twilio_error(400, 21211, "The 'To' number +886912345678 is not a valid phone number.")
    message, _ = sms.quick_send(team=team, contact=contact, text="hello")
    outbox.dispatch()
    message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "21211" and "not a valid" in message.error_reason
    assert ledger.balance(team) == Decimal("10")
    assert [row[0] for row in ledger_rows(team)] == ["top_up", "sms_debit", "refund"]
    outbox.mark_failed(message, "again", "again")  # refunded once only
    assert ledger.balance(team) == Decimal("10")


def test_twilio_server_error_is_retried_without_a_second_debit(team, contact, fake):
    twilio_channel(team)
    top_up(team, 10)
    fake.twilio_error(503, 20503, "Service unavailable")
    message, _ = sms.quick_send(team=team, contact=contact, text="hello")
    outbox.dispatch()
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 1
    fake.twilio_accepts()
    outbox.dispatch(now=timezone.now() + timedelta(hours=1))
    message.refresh_from_db()
    assert message.status == "sent" and ledger.balance(team) == Decimal("9")


# --- Mitake ---------------------------------------------------------------------------------------------------


def test_mitake_smsend_in_its_format(team, contact, fake):
    channel = mitake_channel(team)
    top_up(team, 10)
    fake.mitake_answers(msgid="1010079522", statuscode="1", AccountPoint="98")
    message, _ = sms.quick_send(team=team, contact=contact, text="您好，這是測試簡訊")
    outbox.dispatch()
    request = fake.requests[-1]
    assert request["path"] == "/api/mtk/SmSend" and request["query"] == {"CharsetURL": ["UTF8"]}
    form = request["form"]
    assert (form["username"], form["password"], form["dstaddr"], form["smbody"]) == (
        "user1",
        "pw1",
        "0912345678",
        "您好，這是測試簡訊",
    )
    assert form["clientid"] == str(message.retry_key)
    secret = channel.credentials["callback_secret"]
    assert form["response"] == f"https://cdp.example.com/webhooks/sms/{channel.pk}/?secret={secret}"
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == "1010079522"
    assert ledger.balance(team) == Decimal("9")


@pytest.mark.parametrize("code,status,balance", [("e", "failed", "10"), ("v", "failed", "10"), ("a", "queued", "9")])
def test_mitake_errors(team, contact, fake, code, status, balance):
    mitake_channel(team)
    top_up(team, 10)
    fake.mitake_answers(statuscode=code, Error="")
    message, _ = sms.quick_send(team=team, contact=contact, text="hi")
    outbox.dispatch()
    message.refresh_from_db()
    assert message.status == status and ledger.balance(team) == Decimal(balance)
    if status == "failed":
        assert message.error_code == f"mitake_{code}"


# --- delivery receipts ----------------------------------------------------------------------------------------


def _sent_twilio(team, contact, fake, client):
    channel = twilio_channel(team)
    top_up(team, 10)
    fake.twilio_accepts(sid="SMabc")
    message, _ = sms.quick_send(team=team, contact=contact, text="hello")
    outbox.dispatch()
    return channel, message


def test_twilio_receipt_signed_delivered(client, team, contact, fake):
    channel, message = _sent_twilio(team, contact, fake, client)
    url = f"/webhooks/sms/{channel.pk}/"
    params = {"MessageSid": "SMabc", "MessageStatus": "delivered", "AccountSid": "AC123", "To": E164}
    signature = twilio_signature(f"https://cdp.example.com{url}", params, "tok")
    response = client.post(
        url, urlencode(params), "application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None


def test_twilio_receipt_forged_or_malformed(client, team, contact, fake):
    channel, message = _sent_twilio(team, contact, fake, client)
    url = f"/webhooks/sms/{channel.pk}/"
    params = {"MessageSid": "SMabc", "MessageStatus": "failed"}
    forged = twilio_signature(f"https://cdp.example.com{url}", params, "not-the-token")
    form = "application/x-www-form-urlencoded"
    assert client.post(url, urlencode(params), form, HTTP_X_TWILIO_SIGNATURE=forged).status_code == 403
    assert client.post(url, urlencode(params), form).status_code == 403
    bad = {"MessageStatus": "nonsense"}
    signature = twilio_signature(f"https://cdp.example.com{url}", bad, "tok")
    assert client.post(url, urlencode(bad), form, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 400
    assert client.post("/webhooks/sms/999999/", urlencode(params), form).status_code == 404
    message.refresh_from_db()
    assert message.status == "sent" and ledger.balance(team) == Decimal("9")
    # A signed "failed" (never sent by Twilio) is refunded.
    signature = twilio_signature(f"https://cdp.example.com{url}", params, "tok")
    assert client.post(url, urlencode(params), form, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    message.refresh_from_db()
    assert message.status == "failed" and ledger.balance(team) == Decimal("10")


def test_mitake_receipt_with_the_shared_secret(client, team, contact, fake):
    channel = mitake_channel(team)
    top_up(team, 10)
    fake.mitake_answers(msgid="777", statuscode="1", AccountPoint="98")
    message, _ = sms.quick_send(team=team, contact=contact, text="hi")
    outbox.dispatch()
    secret = channel.credentials["callback_secret"]
    url = f"/webhooks/sms/{channel.pk}/"
    assert client.get(url, {"secret": "wrong", "msgid": "777", "statuscode": "4"}).status_code == 403
    assert client.get(url, {"msgid": "777", "statuscode": "4"}).status_code == 403
    assert client.get(url, {"secret": secret, "statuscode": "4"}).status_code == 400
    assert (
        client.get(url, {"secret": secret, "msgid": "777", "statuscode": "4", "statusstr": "DELIVRD"}).status_code
        == 200
    )
    message.refresh_from_db()
    assert message.status == "delivered"


# --- API --------------------------------------------------------------------------------------------------------


def test_api_quick_sms(team, contact):
    top_up(team, 10)
    client = api_client_for(team, role=Role.AGENT)
    response = client.post("/api/v1/sms/quick", {"contact_id": contact.pk, "text": "hi"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["recipient"] == E164 and body["segments"] == 1 and Decimal(body["balance"]) == Decimal("9")
    assert client.post("/api/v1/sms/quick", {"contact_id": contact.pk, "text": ""}, format="json").status_code == 400
    assert client.post("/api/v1/sms/quick", {"contact_id": "x", "text": "a"}, format="json").status_code == 400


def test_api_quick_sms_refused_below_grace(team, contact):
    Account.objects.update_or_create(team=team, defaults={"balance": Decimal("-1"), "grace_amount": Decimal("0")})
    response = api_client_for(team).post("/api/v1/sms/quick", {"contact_id": contact.pk, "text": "hi"}, format="json")
    assert response.status_code == 402 and response.json()["error"]["code"] == "balance_blocked"
    assert not Transaction.objects.filter(team=team).exists()


def test_api_sms_endpoints_are_team_scoped(team, other_team, contact):
    top_up(team, 10)
    client = api_client_for(other_team)
    for path, body in [
        ("/api/v1/sms/quick", {"contact_id": contact.pk, "text": "hi"}),
        ("/api/v1/sms/phone-binding/start", {"contact_id": contact.pk, "phone": E164}),
        ("/api/v1/sms/phone-binding/verify", {"contact_id": contact.pk, "phone": E164, "code": "123456"}),
    ]:
        response = client.post(path, body, format="json")
        assert response.status_code == 400 and "contact_id" in response.json()["error"]["fields"], path
    assert not OutboundMessage.objects.exists() and ledger.balance(team) == Decimal("10")


def test_api_sms_needs_the_permission(team, contact):
    response = api_client_for(team, role=Role.MARKETER).post(
        "/api/v1/sms/quick", {"contact_id": contact.pk, "text": "hi"}, format="json"
    )
    assert response.status_code == 403


# --- phone binding ---------------------------------------------------------------------------------------------


def _code_from(message):
    return "".join(ch for ch in message.content["text"] if ch.isdigit())[:6]


def test_phone_binding_end_to_end(team, contact):
    top_up(team, 10)
    client = api_client_for(team, role=Role.AGENT)
    response = client.post("/api/v1/sms/phone-binding/start", {"contact_id": contact.pk, "phone": "0922333444"})
    assert response.status_code == 201, response.json()
    record = PhoneBindingCode.objects.get(team=team)
    code = _code_from(record.message)
    assert record.phone == "+886922333444" and record.message.recipient == "+886922333444"
    assert code not in record.code_hash and len(record.code_hash) == 64
    assert ledger.balance(team) == Decimal("9")
    wrong = client.post(
        "/api/v1/sms/phone-binding/verify",
        {"contact_id": contact.pk, "phone": "0922333444", "code": "000000" if code != "000000" else "111111"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_code"
    right = client.post(
        "/api/v1/sms/phone-binding/verify", {"contact_id": contact.pk, "phone": "0922333444", "code": code}
    )
    assert right.status_code == 200, right.json()
    assert right.json()["status"] == "bound" and right.json()["phone"] == "+886922333444"
    binding = Binding.objects.get(team=team, contact=contact)
    assert binding.method == "sms_code" and binding.phone == "+886922333444"
    again = client.post(
        "/api/v1/sms/phone-binding/verify", {"contact_id": contact.pk, "phone": "0922333444", "code": code}
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "code_expired"  # a code works once


def test_phone_binding_code_expires_after_ten_minutes(team, contact):
    top_up(team, 10)
    record = sms.start_binding(team=team, contact=contact, phone=E164)
    code = _code_from(record.message)
    PhoneBindingCode.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert record.expires_at - record.created_at == timedelta(minutes=10)
    with pytest.raises(sms.BindingRefused) as refused:
        sms.verify_binding(team=team, contact=contact, phone=E164, code=code)
    assert refused.value.code == "code_expired"


def test_phone_binding_attempts_are_limited(team, contact, settings):
    top_up(team, 100)
    record = sms.start_binding(team=team, contact=contact, phone=E164)
    code = _code_from(record.message)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(settings.MESSAGING_PHONE_CODE_ATTEMPTS):
        with pytest.raises(sms.BindingRefused):
            sms.verify_binding(team=team, contact=contact, phone=E164, code=wrong)
    with pytest.raises(sms.BindingRefused) as refused:
        sms.verify_binding(team=team, contact=contact, phone=E164, code=code)  # even the right code, now
    assert refused.value.code == "too_many_attempts"


def test_phone_binding_codes_are_limited_per_contact_and_per_phone(team, contact, settings):
    settings.MESSAGING_PHONE_CODE_PER_HOUR = 2
    top_up(team, 100)
    sms.start_binding(team=team, contact=contact, phone=E164)
    sms.start_binding(team=team, contact=contact, phone="+886922333444")
    with pytest.raises(sms.BindingRefused) as refused:
        sms.start_binding(team=team, contact=contact, phone="+886933444555")
    assert refused.value.code == "too_many_codes"
    other = ContactFactory(channel=contact.channel)
    sms.start_binding(team=team, contact=other, phone=E164)
    with pytest.raises(sms.BindingRefused):  # the phone had two codes this hour, from whichever contact
        sms.start_binding(team=team, contact=ContactFactory(channel=contact.channel), phone=E164)


def test_phone_binding_never_merges_two_members(team, contact):
    """The usual rules: a phone held by another member's customer names no merge target (member_id_conflict
    protection), so the contact's own customer takes the phone and the other member is untouched."""
    top_up(team, 10)
    Customer.objects.filter(pk=contact.customer_id).update(member_id="M1")
    other = Customer.objects.create(team=team, member_id="M2", phone="+886922333444")
    team.match_by_phone = True
    team.save(update_fields=["match_by_phone"])
    record = sms.start_binding(team=team, contact=contact, phone="+886922333444")
    response = api_client_for(team).post(
        "/api/v1/sms/phone-binding/verify",
        {"contact_id": contact.pk, "phone": "+886922333444", "code": _code_from(record.message)},
    )
    assert response.status_code == 200 and response.json()["customer_id"] == contact.customer_id
    other.refresh_from_db()
    assert other.merged_into_id is None and other.member_id == "M2"


def test_phone_binding_merges_an_anonymous_customer_with_that_phone(team, contact):
    top_up(team, 10)
    team.match_by_phone = True
    team.save(update_fields=["match_by_phone"])
    anonymous = Customer.objects.create(team=team, phone="+886922333444")
    own = contact.customer_id
    record = sms.start_binding(team=team, contact=contact, phone="+886922333444")
    result = sms.verify_binding(team=team, contact=contact, phone="+886922333444", code=_code_from(record.message))
    assert result.status == "bound" and result.merges
    assert Customer.objects.get(pk=own).merged_into_id == anonymous.pk
    assert Binding.objects.get(team=team, contact=contact).customer_id == anonymous.pk


def test_phone_binding_refused_below_grace(team, contact):
    Account.objects.update_or_create(team=team, defaults={"balance": Decimal("-1"), "grace_amount": Decimal("0")})
    with pytest.raises(sms.SmsRefused):
        sms.start_binding(team=team, contact=contact, phone=E164)
    assert not PhoneBindingCode.objects.exists() and not Transaction.objects.exists()


# --- console ----------------------------------------------------------------------------------------------------


def test_console_quick_sms_shows_the_price_then_the_result(client, team, contact):
    top_up(team, 10)
    client.force_login(MembershipFactory(team=team, role=Role.AGENT).user)
    url = reverse("messaging:quick-sms", args=[contact.pk])
    card = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert E164 in card and "1 則" in card
    quote = client.post(url, {"text": "中" * 71, "action": "quote"}, HTTP_HX_REQUEST="true").content.decode()
    assert "2 則" in quote and not OutboundMessage.objects.exists()
    sent = client.post(url, {"text": "中" * 71, "action": "send", "idempotency_key": "abc"}, HTTP_HX_REQUEST="true")
    assert 'data-testid="sms-result"' in sent.content.decode() and ledger.balance(team) == Decimal("8")
    client.post(url, {"text": "中" * 71, "action": "send", "idempotency_key": "abc"}, HTTP_HX_REQUEST="true")
    assert ledger.balance(team) == Decimal("8")  # a double click sends once
    customer_card = client.get(reverse("messaging:quick-sms-customer", args=[contact.customer_id])).content.decode()
    assert E164 in customer_card


def test_console_quick_sms_blocked(client, team, contact):
    Account.objects.update_or_create(team=team, defaults={"balance": Decimal("-1"), "grace_amount": Decimal("0")})
    client.force_login(MembershipFactory(team=team, role=Role.OWNER).user)
    url = reverse("messaging:quick-sms", args=[contact.pk])
    assert 'data-testid="sms-blocked"' in client.get(url).content.decode()
    response = client.post(url, {"text": "hi", "action": "send"}).content.decode()
    assert 'data-testid="sms-error"' in response and not Transaction.objects.exists()


# --- phone binding by chat ---------------------------------------------------------------------------------------


def test_phone_binding_by_a_chat_flow_a_keyword_starts(client, team):
    from .factories import KeywordRuleFactory
    from .payloads import LINE_SECRET, line_body, line_text, post_line

    top_up(team, 10)
    line = ChannelFactory(team=team, kind="line", is_sandbox=True, credentials={"channel_secret": LINE_SECRET})
    KeywordRuleFactory(team=team, keywords=["綁定手機"], reply_text="", starts_phone_binding=True)
    base = int(timezone.now().timestamp() * 1000)

    def say(text, n):
        assert post_line(client, line, line_body(line_text(text, ts=base + n))).status_code == 200
        replies = OutboundMessage.objects.filter(team=team, origin="auto_reply").order_by("-id")
        return replies.first().content["text"]

    assert "手機號碼" in say("綁定手機", 1)
    assert "無法辨識" in say("not a phone", 2)
    assert "+886922333444" in say("0922333444", 3)
    record = PhoneBindingCode.objects.get(team=team)
    assert record.message.origin == "phone_binding" and ledger.balance(team) == Decimal("9")
    assert "驗證碼錯誤" in say("000000" if _code_from(record.message) != "000000" else "111111", 4)
    assert "綁定成功" in say(_code_from(record.message), 5)
    binding = Binding.objects.get(team=team)
    assert binding.method == "sms_code" and binding.phone == "+886922333444"
    say("綁定手機", 6)  # the flow ended: later texts go to keyword rules again


def test_phone_binding_chat_says_why_when_blocked(client, team):
    from .factories import KeywordRuleFactory
    from .payloads import LINE_SECRET, line_body, line_text, post_line

    Account.objects.update_or_create(team=team, defaults={"balance": Decimal("-1"), "grace_amount": Decimal("0")})
    line = ChannelFactory(team=team, kind="line", is_sandbox=True, credentials={"channel_secret": LINE_SECRET})
    KeywordRuleFactory(team=team, keywords=["綁定手機"], reply_text="", starts_phone_binding=True)
    base = int(timezone.now().timestamp() * 1000)
    post_line(client, line, line_body(line_text("綁定手機", ts=base)))
    post_line(client, line, line_body(line_text("0922333444", ts=base + 1)))
    last = OutboundMessage.objects.filter(team=team, origin="auto_reply").order_by("-id").first()
    assert "寬限" in last.content["text"]
    assert not PhoneBindingCode.objects.exists() and not Transaction.objects.exists()
