"""OmniLink end to end: the card sent, its link clicked, the deep link followed, the code arriving through the
real (signed) webhook of the target channel, the binding; and each of the seed's seven failure reasons."""

import json
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import pytest
from django.utils import timezone

from cdp.models import Binding, Contact, CustomerEvent, EventType, MergeRecord
from cdp.tests.factories import ContactFactory, CustomerFactory
from messaging.models import OutboundMessage, WebhookEvent
from messaging.services.content import render
from messaging.tests.payloads import (
    line_body,
    line_event,
    meta_body,
    post_line,
    post_meta,
    wa_body,
    wa_change,
)
from omnilink import services
from omnilink.models import FailureReason, Participant, ParticipantStatus
from omnilink.services import sweep_timeouts

from .helpers import DESKTOP, MOBILE, code_of, link_path, make_campaign, now_ms

pytestmark = pytest.mark.django_db

PSID = "6543210987654321"
WA_ID = "85290000001"


def wa_text_body(wa, text, *, wa_id=WA_ID, ts=None, mid="wamid.HBgM1"):
    message = {
        "from": wa_id,
        "id": mid,
        "timestamp": str(ts or now_ms() // 1000),
        "type": "text",
        "text": {"body": text},
    }
    contact = {"profile": {"name": "陳小明"}, "wa_id": wa_id}
    return wa_body(wa_change(wa.external_id, messages=[message], contacts=[contact]))


def line_text_event(text, *, user="U1234567890abcdef1234567890abcdef", ts=None, event_id="01HOMNILINK0001"):
    ts = ts or now_ms()
    message = {"type": "text", "id": "5001", "text": text, "quoteToken": "q"}
    return line_event("message", user=user, ts=ts, event_id=event_id, message=message)


def card_link(message, channel_kind):
    """The /r/ tracked URL of the card's button in the rendered payload, followed to the OmniLink link."""
    rendered = render(message, channel_kind)
    message.links = {"urls": rendered.urls, "images": rendered.images}  # as the outbox records a send
    message.status = "sent"
    message.save()
    payload = json.dumps(rendered.payload)
    start = payload.index("/r/")
    token = payload[start + 3 : payload.index('"', start)]
    return f"/r/{token}"


def send_card(campaign, contact):
    return OutboundMessage.objects.create(
        team=campaign.team,
        channel=contact.channel,
        contact=contact,
        content={"type": "module", "module_id": campaign.card_module_id},
        origin="broadcast",
        origin_id="1",
        idempotency_key=f"card:{contact.pk}",
        next_attempt_at=timezone.now(),
    )


def click_to_deep_link(client, campaign, contact):
    response = client.get(link_path(campaign, contact.pk), headers=MOBILE)
    assert response.status_code == 302, response.content
    return response["Location"]


# ------------------------------------------------------------------------------------------- the happy paths
def test_line_to_whatsapp_end_to_end(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line, external_id="Usource0001", display_name="小明")
    # The card goes out as a module (a broadcast here): its button is this contact's link, tracked by /r/.
    tracked = card_link(send_card(campaign, source), "line")
    hop = client.get(tracked)
    assert hop.status_code == 302 and hop["Location"].endswith(link_path(campaign, source.pk))
    url = click_to_deep_link(client, campaign, source)
    assert url.startswith("https://wa.me/85291234567?text=")
    participant = Participant.objects.get()
    assert participant.status == ParticipantStatus.PENDING and participant.source_contact == source
    code = code_of(url)
    assert participant.code == code
    text = unquote(urlsplit(url).query.removeprefix("text="))
    assert text == f"我要綁定帳號 {code}"

    assert post_meta_wa(client, wa, wa_text_body(wa, text)).status_code == 200
    participant.refresh_from_db()
    target = Contact.objects.get(channel=wa, external_id=f"+{WA_ID}")
    assert participant.status == ParticipantStatus.SUCCESS
    assert participant.target_contact == target and participant.target_is_new
    source.refresh_from_db()
    assert target.customer_id == source.customer_id == participant.customer_id
    binding = Binding.objects.get(contact=target)
    assert binding.method == "omnilink" and binding.customer_id == source.customer_id
    assert MergeRecord.objects.filter(team=team, survivor_id=source.customer_id).exists()
    assert CustomerEvent.objects.filter(customer_id=source.customer_id, type=EventType.BINDING).exists()
    assert WebhookEvent.objects.get().state == "processed"

    stats = services.statistics(campaign)
    assert (stats["participants"], stats["successes"], stats["failures"], stats["pending"]) == (1, 1, 0, 0)
    assert stats["new_contacts"] == 1
    # Analytics' binding-source chart counting it: analytics/tests/test_omnilink_bindings.py (analytics is above).


def post_meta_wa(client, wa, body):
    return post_meta(client, wa, body, path="whatsapp")


def test_whatsapp_to_line_end_to_end(client, team, line, wa):
    campaign = make_campaign(team, wa, line, name="WhatsApp → LINE")
    source = ContactFactory(channel=wa, external_id="+85290000002")
    url = click_to_deep_link(client, campaign, source)
    assert url.startswith("https://line.me/R/oaMessage/@brand/?")
    code = code_of(url)
    text = unquote(urlsplit(url).query)
    assert text == f"我要綁定帳號 {code}"
    existing_line = ContactFactory(channel=line, external_id="Uexisting00000000000000000000001")
    existing_line.created_at = timezone.now() - timedelta(days=30)
    existing_line.save()
    assert post_line(client, line, line_body(line_text_event(text, user=existing_line.external_id))).status_code == 200
    participant = Participant.objects.get()
    assert participant.status == ParticipantStatus.SUCCESS and participant.target_contact == existing_line
    assert not participant.target_is_new  # the LINE contact existed before the campaign
    existing_line.refresh_from_db()
    source.refresh_from_db()
    assert existing_line.customer_id == source.customer_id
    assert services.statistics(campaign)["new_contacts"] == 0


def test_messenger_via_referral(client, team, line, page):
    campaign = make_campaign(team, line, page, name="LINE → Messenger", confirmation_message="綁定完成！")
    source = ContactFactory(channel=line)
    url = click_to_deep_link(client, campaign, source)
    code = code_of(url)
    assert url == f"https://m.me/1234567890?ref={code}"
    # m.me with ref on an existing thread: a messaging_referrals webhook, no typed message.
    referral = {
        "sender": {"id": PSID},
        "recipient": {"id": page.external_id},
        "timestamp": now_ms(),
        "referral": {"ref": code, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }
    assert post_meta(client, page, meta_body("page", page.external_id, referral)).status_code == 200
    participant = Participant.objects.get()
    assert participant.status == ParticipantStatus.SUCCESS
    target = Contact.objects.get(channel=page, external_id=PSID)
    assert target.customer_id == Contact.objects.get(pk=source.pk).customer_id
    # The optional confirmation goes through the outbox, once.
    assert OutboundMessage.objects.filter(contact=target, origin="omnilink").count() == 1
    # The same referral again (a second tap on m.me): bound once, nothing else.
    referral2 = {**referral, "timestamp": now_ms(1)}
    post_meta(client, page, meta_body("page", page.external_id, referral2))
    assert Binding.objects.filter(contact=target).count() == 1
    assert OutboundMessage.objects.filter(contact=target, origin="omnilink").count() == 1


def test_messenger_new_thread_get_started_postback_carries_the_referral(client, team, line, page):
    campaign = make_campaign(team, line, page)
    source = ContactFactory(channel=line)
    code = code_of(click_to_deep_link(client, campaign, source))
    postback = {
        "sender": {"id": PSID},
        "recipient": {"id": page.external_id},
        "timestamp": now_ms(),
        "postback": {
            "title": "Get Started",
            "payload": "GET_STARTED",
            "mid": "m_getstarted1",
            "referral": {"ref": code, "source": "SHORTLINK", "type": "OPEN_THREAD"},
        },
    }
    post_meta(client, page, meta_body("page", page.external_id, postback))
    assert Participant.objects.get().status == ParticipantStatus.SUCCESS


def test_later_clicks_change_nothing_and_desktop_gets_the_explanation_page(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    first = click_to_deep_link(client, campaign, source)
    clicked_at = Participant.objects.get().first_clicked_at
    page = client.get(link_path(campaign, source.pk), headers=DESKTOP)
    assert page.status_code == 200
    body = page.content.decode()
    assert "再一步就完成整合" in body and first.replace("&", "&amp;") in body
    assert Participant.objects.count() == 1 and Participant.objects.get().first_clicked_at == clicked_at
    assert click_to_deep_link(client, campaign, source) == first  # the same code


def test_an_ordinary_message_is_not_slowed_by_omnilink(client, team, line, wa, settings, django_assert_num_queries):
    """The same message costs the same queries with the hook installed as without it."""
    make_campaign(team, line, wa)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(event_id, user):
        with CaptureQueriesContext(connection) as ctx:
            post_line(client, line, line_body(line_text_event("你好，請問營業時間？", user=user, event_id=event_id)))
        return len(ctx.captured_queries)

    count("warm-up", "Uwarm00000000000000000000000000a")
    with_hook = count("e1", "Ufirst0000000000000000000000000a")
    settings.MESSAGING_INBOUND_HOOKS = []
    without = count("e2", "Usecond000000000000000000000000a")
    assert with_hook == without


# -------------------------------------------------------------------------------------------- the 7 reasons
def test_reason_campaign_disabled(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    services.set_enabled(campaign, False)
    source = ContactFactory(channel=line)
    response = client.get(link_path(campaign, source.pk), headers=MOBILE)
    assert response.status_code == 200 and "跨社群一鍵整合已停用" in response.content.decode()
    p = Participant.objects.get()
    assert (p.status, p.reason) == ("failure", FailureReason.CAMPAIGN_DISABLED)


def test_reason_link_unavailable(client, team, line, wa):
    wa.credentials = {k: v for k, v in wa.credentials.items() if k != "display_phone_number"}
    wa.save()
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    response = client.get(link_path(campaign, source.pk), headers=MOBILE)
    assert response.status_code == 200 and "無法產生整合連結" in response.content.decode()
    assert Participant.objects.get().reason == FailureReason.LINK_UNAVAILABLE


def test_reason_source_contact_not_found_at_click_and_at_completion(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    gone = ContactFactory(channel=line)
    gone_id = gone.pk
    gone.delete()
    client.get(link_path(campaign, gone_id), headers=MOBILE)
    p = Participant.objects.get(source_contact_ref=gone_id)
    assert p.reason == FailureReason.SOURCE_CONTACT_NOT_FOUND
    # Deleted between the click and the code's arrival.
    source = ContactFactory(channel=line)
    url = click_to_deep_link(client, campaign, source)
    source_id = source.pk
    source.delete()
    post_meta_wa(client, wa, wa_text_body(wa, f"hi {code_of(url)}"))
    p = Participant.objects.get(source_contact_ref=source_id)
    assert (p.status, p.reason) == ("failure", FailureReason.SOURCE_CONTACT_NOT_FOUND)


def test_reason_target_contact_not_found(team, line, wa, client):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    code = code_of(click_to_deep_link(client, campaign, source))
    vanished = Contact(pk=987654321, team=team, channel=wa, external_id="+85299999999", created_at=timezone.now())
    assert services.complete(channel=wa, contact=vanished, code=code, at=timezone.now())
    assert Participant.objects.get().reason == FailureReason.TARGET_CONTACT_NOT_FOUND


def test_reason_member_id_conflict(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line, customer=CustomerFactory(team=team, member_id="M-1"))
    ContactFactory(channel=wa, external_id=f"+{WA_ID}", customer=CustomerFactory(team=team, member_id="M-2"))
    url = click_to_deep_link(client, campaign, source)
    post_meta_wa(client, wa, wa_text_body(wa, f"我要綁定帳號 {code_of(url)}"))
    p = Participant.objects.get()
    assert (p.status, p.reason) == ("failure", FailureReason.MEMBER_ID_CONFLICT)
    assert not Binding.objects.exists()


def test_reason_server_error_on_binding_is_recorded_and_the_event_processed(client, team, line, wa, monkeypatch):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    url = click_to_deep_link(client, campaign, source)

    def boom(**kwargs):
        raise RuntimeError("identity service down")

    monkeypatch.setattr(services, "bind_to_contact", boom)
    post_meta_wa(client, wa, wa_text_body(wa, f"我要綁定帳號 {code_of(url)}"))
    p = Participant.objects.get()
    assert (p.status, p.reason) == ("failure", FailureReason.SERVER_ERROR) and p.error_ref
    assert WebhookEvent.objects.get().state == "processed"


def test_reason_server_error_on_click_is_a_page_with_a_reference_never_a_500(client, team, line, wa, monkeypatch):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)

    def boom(token, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "click", boom)
    response = client.get(link_path(campaign, source.pk), headers=MOBILE)
    assert response.status_code == 200 and "伺服器錯誤" in response.content.decode()
    p = Participant.objects.get()
    assert p.reason == FailureReason.SERVER_ERROR and p.error_ref in response.content.decode()


def test_reason_not_completed_by_the_sweep_and_by_a_late_code(client, team, line, wa):
    campaign = make_campaign(team, line, wa, completion_hours=1)
    a, b = ContactFactory(channel=line), ContactFactory(channel=line)
    click_to_deep_link(client, campaign, a)
    url_b = click_to_deep_link(client, campaign, b)
    assert services.statistics(campaign)["pending"] == 2  # pending until the sweep decides
    assert sweep_timeouts(now=timezone.now() + timedelta(minutes=30)) == 0
    # b's code arrives after its window: recorded as the failure it is, nothing bound.
    Participant.objects.filter(source_contact=b).update(deadline_at=timezone.now() - timedelta(minutes=1))
    post_meta_wa(client, wa, wa_text_body(wa, f"我要綁定帳號 {code_of(url_b)}"))
    pb = Participant.objects.get(source_contact=b)
    assert (pb.status, pb.reason) == ("failure", FailureReason.NOT_COMPLETED)
    assert not Binding.objects.exists()
    assert sweep_timeouts(now=timezone.now() + timedelta(hours=2)) == 1
    pa = Participant.objects.get(source_contact=a)
    assert (pa.status, pa.reason) == ("failure", FailureReason.NOT_COMPLETED)
    stats = services.statistics(campaign)
    assert stats["participants"] == stats["successes"] + stats["failures"] == 2 and stats["pending"] == 0
    assert {r["reason"]: r["count"] for r in stats["failure_reasons"]}[FailureReason.NOT_COMPLETED] == 2


# ------------------------------------------------------------------------------------------ bad input, abuse
def test_forged_tampered_or_other_team_tokens_record_nothing(client, team, other_team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    good = link_path(campaign, source.pk)
    for path in ("/ol/garbage", good[:-2] + "xx", f"/ol/{campaign.pk:x}.{source.pk:x}"):
        response = client.get(path, headers=MOBILE)
        assert response.status_code == 404 and "連結無效" in response.content.decode()
    outsider = ContactFactory(channel__team=other_team)
    assert client.get(link_path(campaign, outsider.pk), headers=MOBILE).status_code == 404
    assert not Participant.objects.exists()


def test_an_ended_campaign_records_nothing(client, team, line, wa):
    campaign = make_campaign(team, line, wa, ends_at=timezone.now() - timedelta(minutes=1))
    source = ContactFactory(channel=line)
    response = client.get(link_path(campaign, source.pk), headers=MOBILE)
    assert response.status_code == 200 and "活動已結束" in response.content.decode()
    assert not Participant.objects.exists()


def test_a_code_on_the_wrong_channel_binds_nothing_and_stays_pending(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    code = code_of(click_to_deep_link(client, campaign, source))
    post_line(client, line, line_body(line_text_event(f"我要綁定帳號 {code}")))
    assert Participant.objects.get().status == ParticipantStatus.PENDING
    assert not Binding.objects.exists()


def test_a_code_sent_twice_binds_once(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    text = f"我要綁定帳號 {code_of(click_to_deep_link(client, campaign, source))}"
    post_meta_wa(client, wa, wa_text_body(wa, text, mid="wamid.A"))
    post_meta_wa(client, wa, wa_text_body(wa, text, mid="wamid.B", ts=now_ms(5) // 1000))
    assert Binding.objects.count() == 1
    assert Participant.objects.get().status == ParticipantStatus.SUCCESS


def test_link_preview_crawlers_are_not_participants(client, team, line, wa):
    campaign = make_campaign(team, line, wa)
    source = ContactFactory(channel=line)
    client.get(link_path(campaign, source.pk), headers={"User-Agent": "facebookexternalhit/1.1"})
    assert not Participant.objects.exists()
