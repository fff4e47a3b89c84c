"""The three-pane inbox (issue 20.2), the channels page (20.3) and the messaging menu (20.1, 20.12): list filters,
unread state, bubbles as the customer saw them, htmx polling, assignment records, team scoping."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerTagFactory, TagFactory
from messaging import forms
from messaging.models import Conversation, ConversationAssignment, InboundMessage, OutboundMessage
from messaging.services import channels as channel_service
from messaging.services import conversations, inbox_state
from tests.factories import MembershipFactory

from .factories import ChatbotModuleFactory, OutboundMessageFactory

pytestmark = pytest.mark.django_db


def _wrote(contact, text, *, minutes_ago=0, kind="text"):
    message = InboundMessage.objects.create(
        team=contact.team,
        channel=contact.channel,
        contact=contact,
        kind=kind,
        text=text,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    inbox_state.record_inbound(inbox_state.latest_by_contact([message]))  # as the webhook batch does
    return message


def _rows(console, **params):
    response = console.get(reverse("messaging:conversations"), {"pane": "list", **params}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="inbox-list"' in html
    return html


def _listed(html, contact):
    return f'data-contact="{contact.pk}"' in html


def test_the_list_shows_last_message_snippet_unread_state_and_filters(console, team, owner):
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    fb = ChannelFactory(team=team, kind="facebook", name="FB 粉專")
    amy = ContactFactory(channel=line, display_name="王小明")
    ben = ContactFactory(channel=fb, display_name="Ben Chen")
    _wrote(amy, "請問還有貨嗎？", minutes_ago=5)
    _wrote(ben, "運費多少", minutes_ago=10)
    module = ChatbotModuleFactory(team=team, name="春季新品", type="carousel", content={"cards": []})
    OutboundMessageFactory(
        contact=amy, content={"type": "module", "module_id": module.pk}, preview="[輪播] 春季新品", status="read"
    )

    html = _rows(console)
    assert html.index("王小明") < html.index("Ben Chen")  # most recent first
    # The snippet is the last message, never a stored label.
    assert "輪播訊息: 春季新品" in html and "[輪播]" not in html
    assert "運費多少" in html
    assert html.count('data-unread="1"') == 2

    assert _listed(_rows(console, channel=fb.pk), ben) and not _listed(_rows(console, channel=fb.pk), amy)
    assert _listed(_rows(console, q="小明"), amy) and not _listed(_rows(console, q="小明"), ben)
    assert _listed(_rows(console, q="運費"), ben)  # the message text is searched too
    assert "沒有符合條件的對話" in _rows(console, q="沒有這個人")
    assert _rows(console, channel="not-a-number")  # a bad filter value is ignored, never an error

    # Opening a conversation reads it; the unread filter then leaves it out until the customer writes again.
    assert console.get(reverse("messaging:conversation", args=[amy.pk])).status_code == 200
    html = _rows(console, unread="on")
    assert not _listed(html, amy) and _listed(html, ben)
    _wrote(amy, "還在嗎？")
    assert _listed(_rows(console, unread="on"), amy)


def test_polling_brings_new_messages_without_a_reload(console, team):
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"), display_name="王小明")
    _wrote(contact, "第一則", minutes_ago=3)
    page = console.get(reverse("messaging:conversation", args=[contact.pk])).content.decode()
    assert 'hx-trigger="every 5s"' in page and "第一則" in page and "第二則" not in page
    _wrote(contact, "第二則")
    thread = console.get(reverse("messaging:conversation", args=[contact.pk]), HTTP_HX_REQUEST="true")
    assert "<html" not in thread.content.decode() and "第二則" in thread.content.decode()
    assert "第二則" in _rows(console, selected=contact.pk)


def test_a_list_poll_with_nothing_new_answers_204(console, team):
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"))
    first = _wrote(contact, "第一則", minutes_ago=3)
    html = _rows(console)
    since = first.occurred_at.isoformat()
    assert f"since={quote(since)}" in html  # the poll carries the newest message time it has shown
    url = reverse("messaging:conversations")
    poll = {"pane": "list", "since": since}
    assert console.get(url, poll, HTTP_HX_REQUEST="true").status_code == 204
    _wrote(contact, "第二則")
    response = console.get(url, poll, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "第二則" in response.content.decode()
    assert console.get(url, {**poll, "since": "garbage"}, HTTP_HX_REQUEST="true").status_code == 200


def test_the_list_reads_conversations_by_last_message_in_a_fixed_number_of_queries(team, django_assert_max_num_queries):
    """The list is ordered by Conversation.last_message_at (kept where messages are recorded), filters included,
    and costs the same few queries whatever the number of messages or rows."""
    channel = ChannelFactory(team=team, kind="line")
    quiet, chatty, replied = (ContactFactory(channel=channel) for _ in range(3))
    _wrote(quiet, "older", minutes_ago=60)
    for n in range(8):
        _wrote(chatty, f"m{n}", minutes_ago=n + 10)
    _wrote(replied, "hello", minutes_ago=30)
    assert [row["contact"] for row in conversations.inbox_rows(team)] == [chatty, replied, quiet]
    conversations.agent_reply(contact=replied, text="hi")  # an outbox row moves its conversation up
    assert [row["contact"] for row in conversations.inbox_rows(team)] == [replied, chatty, quiet]
    assert [row["contact"] for row in conversations.inbox_rows(team, limit=1)] == [replied]
    # A late, older event never moves a conversation back; a broadcast creates no conversation.
    inbox_state.record_inbound({(team.pk, chatty.pk): timezone.now() - timedelta(days=3)})
    assert Conversation.objects.get(contact=chatty).last_inbound_at > timezone.now() - timedelta(minutes=11)
    stranger = ContactFactory(channel=channel)
    conversations.outbox.enqueue_many(
        team=team,
        channel=channel,
        contacts_or_ids=[stranger, quiet],
        content={"type": "text", "text": "sale"},
        origin="broadcast",
        origin_id="1",
        key_prefix="b1",
    )
    assert not Conversation.objects.filter(contact=stranger).exists()
    assert [row["contact"] for row in conversations.inbox_rows(team)][0] == quiet
    for n in range(5):
        _wrote(ContactFactory(channel=channel), f"more {n}")
    with django_assert_max_num_queries(8):
        assert len(conversations.inbox_rows(team, q="m", unread=True, assignee="none")) >= 1
    with django_assert_max_num_queries(8):
        assert len(conversations.inbox_rows(team)) == 8


def test_bubbles_render_modules_templates_and_media_never_raw_labels(console, team):
    channel = ChannelFactory(team=team, kind="whatsapp", is_sandbox=True)
    contact = ContactFactory(channel=channel)
    _wrote(contact, "", kind="image", minutes_ago=9)
    _wrote(contact, "", kind="sticker", minutes_ago=8)
    module = ChatbotModuleFactory(
        team=team,
        type="carousel",
        name="春季新品",
        content={
            "cards": [
                {
                    "image_url": "https://img.example/a.jpg",
                    "title": "外套",
                    "text": "保暖",
                    "buttons": [{"label": "購買"}],
                }
            ]
        },
    )
    OutboundMessageFactory(contact=contact, content={"type": "module", "module_id": module.pk}, status="delivered")
    OutboundMessageFactory(
        contact=contact,
        content={"type": "module", "module_id": module.pk},
        status="failed",
        error_reason="demo failure",
        preview="[輪播] 春季新品",
    )
    from .factories import WhatsAppTemplateFactory

    template = WhatsAppTemplateFactory(channel=channel)
    OutboundMessageFactory(
        contact=contact,
        content={"type": "whatsapp_template", "template_id": template.pk, "parameters": ["小明", "SPRING"]},
        status="read",
    )
    html = console.get(reverse("messaging:conversation", args=[contact.pk])).content.decode()
    assert 'src="https://img.example/a.jpg"' in html and "外套" in html and "購買" in html  # the card as sent
    assert "您好 小明，優惠碼 SPRING" in html  # the template with its parameters
    assert "圖片" in html and "貼圖" in html
    for raw in ("demo failure", "[輪播]", "[image]", "[sticker]", "[module]"):
        assert raw not in html
    assert "tick-delivered" in html and "tick-read" in html and "tick-failed" in html and "發送失敗" in html


def test_side_pane_shows_customer_summary_and_tags(console, team):
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"), display_name="王小明")
    contact.customer.email = "ming@example.com"
    contact.customer.save(update_fields=["email"])
    CustomerTagFactory(customer=contact.customer, tag=TagFactory(team=team, name="VIP"))
    html = console.get(reverse("messaging:conversation", args=[contact.pk])).content.decode()
    assert "ming@example.com" in html and ">VIP<" in html
    assert reverse("cdp:customer", args=[contact.customer_id]) in html


def test_assignment_is_recorded_with_who_and_when(console, team, owner):
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"))
    agent = MembershipFactory(team=team, role="agent").user
    url = reverse("messaging:conversation-assign", args=[contact.pk])
    response = console.post(url, {"assignee": agent.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<html" not in response.content.decode()
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.assignee == agent and conversation.assigned_at is not None
    record = ConversationAssignment.objects.get(conversation=conversation)
    assert (record.assignee, record.assigned_by, record.team) == (agent, owner, team)
    assert agent.email in response.content.decode()  # the history shows it
    _wrote(contact, "hi")
    assert not _listed(_rows(console, assignee="none"), contact)
    assert not _listed(_rows(console, assignee="me"), contact)

    # Unassigning is recorded too; assigning the same agent twice writes one record.
    console.post(url, {"assignee": agent.pk})
    assert ConversationAssignment.objects.filter(conversation=conversation).count() == 1
    assert console.post(url, {"assignee": ""}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.assignee is None
    assert ConversationAssignment.objects.filter(conversation=conversation, assignee=None).count() == 1
    assert _listed(_rows(console, assignee="none"), contact)
    console.post(url, {"assignee": owner.pk})
    assert _listed(_rows(console, assignee="me"), contact)


def test_assignment_refuses_outsiders_and_members_who_cannot_reply(console, client, team, other_team):
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"))
    outsider = MembershipFactory(team=other_team, role="agent").user
    marketer = MembershipFactory(team=team, role="marketer").user  # sees conversations, cannot reply
    url = reverse("messaging:conversation-assign", args=[contact.pk])
    for user in (outsider, marketer):
        response = console.post(url, {"assignee": user.pk}, HTTP_HX_REQUEST="true")
        assert response.status_code == 400 and "field-error" in response.content.decode()
    assert not ConversationAssignment.objects.exists()
    with pytest.raises(Exception, match="只能指派"):
        conversations.assign(contact, marketer)
    client.force_login(marketer)
    assert client.post(url, {"assignee": ""}).status_code == 403
    assert (
        "conversation-assign" not in client.get(reverse("messaging:conversation", args=[contact.pk])).content.decode()
    )


def test_other_teams_conversations_stay_out(console, team, other_team):
    mine = ContactFactory(channel=ChannelFactory(team=team, kind="line"))
    theirs = ContactFactory(channel=ChannelFactory(team=other_team, kind="line"), display_name="別隊顧客")
    _wrote(mine, "mine")
    _wrote(theirs, "theirs")
    html = _rows(console, q="")
    assert _listed(html, mine) and not _listed(html, theirs) and "別隊顧客" not in html
    assert console.post(reverse("messaging:conversation-assign", args=[theirs.pk]), {"assignee": ""}).status_code == 404
    assert console.get(reverse("messaging:conversation", args=[theirs.pk]), HTTP_HX_REQUEST="true").status_code == 404
    theirs_conversation = Conversation.objects.get(contact=theirs)  # made when they wrote, untouched since
    assert theirs_conversation.last_read_at is None and theirs_conversation.assignee is None
    assert not ConversationAssignment.objects.filter(conversation=theirs_conversation).exists()


def test_inbox_list_query_count_is_fixed(console, team, django_assert_max_num_queries):
    channel = ChannelFactory(team=team, kind="line")
    for n in range(12):
        contact = ContactFactory(channel=channel)
        _wrote(contact, f"m{n}", minutes_ago=n)
        OutboundMessageFactory(contact=contact, content={"type": "text", "text": "ok"})
    with django_assert_max_num_queries(14):
        html = _rows(console)
    assert html.count('data-testid="conversation-row"') == 12


# --------------------------------------------------------------------------------------------- channels page
def test_channels_page_lists_every_channel_with_copyable_webhook_urls(console, team):
    line = ChannelFactory(team=team, kind="line", name="LINE OA")
    ChannelFactory(team=team, kind="web", name="官網追蹤")
    ChannelFactory(team=team, kind="sms", name="簡訊", is_sandbox=True)
    html = console.get(reverse("messaging:index")).content.decode()
    assert "LINE OA" in html and "官網追蹤" in html and "簡訊" in html
    assert f'value="{channel_service.webhook_url(line)}"' in html
    assert 'data-testid="copy-button"' in html


@override_settings(PUBLIC_BASE_URL="https://cdp.example.com")
def test_webhook_urls_use_the_public_base_url(console, team):
    line = ChannelFactory(team=team, kind="line")
    assert (
        f"https://cdp.example.com/webhooks/line/{line.pk}/" in console.get(reverse("messaging:index")).content.decode()
    )


def test_connect_form_tags_each_credential_field_with_its_kinds(console, team):
    html = console.get(reverse("messaging:index")).content.decode()
    assert 'data-kinds="line" data-testid="kind-field-channel_secret"' in html
    assert 'data-kinds="sms" data-testid="kind-field-account_sid"' in html
    assert 'option[value="whatsapp"]:checked' in html  # the rule that hides the other kinds' fields
    assert 'data-testid="kind-field-name"' not in html  # shared fields always show


def test_a_credential_key_shared_by_two_kinds_is_labelled_per_kind(console, team):
    """`username` is Instagram's user name and Mitake's account: the SMS form never says 「IG 使用者名稱」."""
    html = console.get(reverse("messaging:index")).content.decode()
    row = html.split('data-testid="kind-field-username"', 1)[1].split("</label>", 1)[0]
    assert '<span data-kinds="instagram">IG 使用者名稱</span>' in row
    assert '<span data-kinds="sms">三竹帳號</span>' in row
    sms = ChannelFactory(team=team, kind="sms", name="三竹簡訊", credentials={"provider": "mitake"})
    edit = forms.CredentialsForm(channel=sms)
    assert str(edit.fields["username"].label) == "三竹帳號"


# ------------------------------------------------------------------------------------------------ the menu
@pytest.mark.parametrize(
    ("name", "sub"),
    [
        ("messaging:conversations", "conversations"),
        ("messaging:index", "channels"),
        ("messaging:keywords", "keywords"),
        ("messaging:modules", "modules"),
    ],
)
def test_messaging_pages_highlight_the_messaging_menu(console, team, name, sub):
    html = console.get(reverse(name)).content.decode()
    assert 'class="active" data-menu="messaging"' in html and f'class="active" data-menu="{sub}"' in html
    assert 'class="active" data-menu="settings"' not in html and 'class="active" data-menu="customers"' not in html


def test_settings_links_to_channels_and_built_modules_drop_the_coming_soon_mark(console, team):
    html = console.get(reverse("team-settings")).content.decode()
    assert 'data-testid="settings-channels"' in html and f'href="{reverse("messaging:index")}"' in html
    # OmniLink, coupons and Chat to Order landed: no menu entry carries 即將推出 any more.
    assert 'data-testid="coming-soon"' not in html
    assert 'data-menu="omnilink"' in html and 'data-menu="orders"' in html
    # The mark itself, for the next module that is still being built.
    mark = render_to_string("partials/coming_soon.html")
    assert 'data-testid="coming-soon"' in mark and "即將推出" in mark


def test_the_demo_fills_the_inbox_and_reruns_cleanly(console, team, owner):
    import random

    from messaging import demo

    channel = ChannelFactory(team=team, kind="line")
    for _n in range(6):
        ContactFactory(channel=channel)
    for _run in range(2):
        demo.seed(team, random.Random(7), now=timezone.now())
    assert Conversation.objects.filter(team=team).count() == 6
    assert InboundMessage.objects.filter(team=team).values("contact").distinct().count() == 6
    html = _rows(console)
    assert html.count('data-testid="conversation-row"') == 6
    assert 'data-unread="1"' in html or 'data-unread="0"' in html


def test_a_blocked_contact_shows_why_it_cannot_be_replied_to(console, team):
    """The reply box follows the send rule (messaging.policy.check_send): a blocked contact gets the reason, not a
    box whose message the outbox would drop; a forged POST is refused with the same words, nothing queued."""
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"), display_name="王小明")
    _wrote(contact, "再見", minutes_ago=2)
    url = reverse("messaging:conversation", args=[contact.pk])
    page = console.get(url).content.decode()
    assert 'data-testid="reply-form"' in page and 'data-testid="reply-refused"' not in page
    contact.status = "blocked"
    contact.save(update_fields=["status"])
    page = console.get(url).content.decode()
    assert 'data-testid="reply-form"' not in page
    assert 'data-testid="reply-refused"' in page and "已封鎖或取消追蹤此帳號" in page
    response = console.post(url, {"text": "還在嗎？"})
    assert response.status_code == 400 and "已封鎖或取消追蹤此帳號" in response.content.decode()
    assert not OutboundMessage.objects.filter(contact=contact).exists()
    console.cookies["django_language"] = "en"
    english = console.get(url).content.decode()
    assert "has blocked or unfollowed the account" in english and "已封鎖" not in english
