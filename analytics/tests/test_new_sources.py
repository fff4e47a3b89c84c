"""Every new-contact source path, from the platform's documented payload (signed, through the webhook intake and
processing) or the console / API action, to the figure in the new-contact-sources chart (issue 18)."""

import json
import time

import pytest

from analytics import rollups, services
from analytics.services import today
from cdp.models import Contact
from cdp.tests.factories import ChannelFactory
from messaging.models import CommentReply, CommentRule
from messaging.services import comments
from messaging.tests.fake_platform import FakePlatform
from messaging.tests.payloads import META_SECRET, meta_body, post_meta

pytestmark = pytest.mark.django_db

PAGE_ID = "1234567890"
IG_ID = "17841400000000"


@pytest.fixture(autouse=True)
def _sync(monkeypatch):
    from django_q.conf import Conf

    from messaging.services import channel_cache

    monkeypatch.setattr(Conf, "SYNC", True)
    channel_cache.clear()


def source_count(team, source):
    rollups.rebuild(team)
    first = today(team).replace(day=1)
    return {r["source"]: r["count"] for r in services.contact_sources(team, first)["sources"]}[source]


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture
def graph(settings):
    with FakePlatform() as server:
        settings.MESSAGING_META_GRAPH_BASE = server.url + "/v21.0"
        settings.MESSAGING_INSTAGRAM_API_BASE = server.url + "/ig/v21.0"
        yield server


@pytest.fixture
def page(team):
    return ChannelFactory(
        team=team,
        kind="facebook",
        external_id=PAGE_ID,
        credentials={"app_secret": META_SECRET, "verify_token": "vt", "access_token": "page-token"},
    )


@pytest.fixture
def ig(team):
    return ChannelFactory(
        team=team, kind="instagram", external_id=IG_ID, credentials={"app_secret": META_SECRET, "access_token": "ig"}
    )


def changes_body(obj, entry_id, *changes, entry_time=None):
    entry = {"id": entry_id, "time": entry_time or now_ms(), "changes": list(changes)}
    return json.dumps({"object": obj, "entry": [entry]}).encode()


def feed_comment(comment_id, user, text):
    """Page `feed` webhook: a comment added on a post (Graph API webhooks reference, Page feed field)."""
    return {
        "field": "feed",
        "value": {
            "from": {"id": user, "name": "陳小明"},
            "post": {"status_type": "added_photos", "is_published": True, "id": f"{PAGE_ID}_555"},
            "message": text,
            "post_id": f"{PAGE_ID}_555",
            "comment_id": comment_id,
            "created_time": int(time.time()) - 5,
            "item": "comment",
            "parent_id": f"{PAGE_ID}_555",
            "verb": "add",
        },
    }


def ig_comment(comment_id, user, text, field="comments"):
    """Instagram `comments` / `live_comments` webhook (Instagram API webhooks reference)."""
    return {
        "field": field,
        "value": {
            "from": {"id": user, "username": "amy.chen"},
            "media": {"id": "18000000000000001", "media_product_type": "FEED" if field == "comments" else "LIVE"},
            "id": comment_id,
            "parent_id": "",
            "text": text,
        },
    }


def dm(user, account, mid, text="", **message):
    return {
        "sender": {"id": user},
        "recipient": {"id": account},
        "timestamp": now_ms(),
        "message": {"mid": mid, **({"text": text} if text else {}), **message},
    }


def private_reply_route(server, path, recipient_id):
    def handler(request):
        assert request["json"]["recipient"].keys() == {"comment_id"}
        return 200, {"recipient_id": recipient_id, "message_id": f"m_{request['json']['recipient']['comment_id']}"}, {}

    server.route("POST", path, handler)


def test_fb_post_comment_rule_private_reply_then_first_message_is_fb_post_reply(client, team, page, graph):
    rule = CommentRule.objects.create(team=team, name="抽獎", keywords=["+1"], reply_text="感謝留言！私訊您優惠碼")
    private_reply_route(graph, f"/v21.0/{PAGE_ID}/messages", recipient_id="PSID-777")
    body = changes_body("page", PAGE_ID, feed_comment("555_901", "ASID-1", "我要 +1"))
    assert post_meta(client, page, body).status_code == 200
    assert post_meta(client, page, body).status_code == 200  # redelivery: one reply still
    reply = CommentReply.objects.get()
    assert (reply.field, reply.source, reply.status) == ("feed", "fb_post_reply", "pending")
    rule.refresh_from_db()
    assert rule.trigger_count == 1
    assert comments.send_pending() == 1
    sent = [r for r in graph.requests if r["path"].endswith("/messages")]
    assert len(sent) == 1
    assert sent[0]["json"] == {"recipient": {"comment_id": "555_901"}, "message": {"text": "感謝留言！私訊您優惠碼"}}
    assert sent[0]["headers"]["authorization"] == "Bearer page-token"
    reply.refresh_from_db()
    assert (reply.status, reply.recipient_id) == ("sent", "PSID-777")
    assert comments.send_pending() == 0  # never twice
    # The commenter answers in Messenger (a PSID, not the comment's app-scoped id): the contact is born.
    assert (
        post_meta(client, page, meta_body("page", PAGE_ID, dm("PSID-777", PAGE_ID, "mid.1", "你好"))).status_code == 200
    )
    contact = Contact.objects.get(external_id="PSID-777")
    assert (contact.source, contact.source_detail) == ("fb_post_reply", "comment:555_901")
    assert source_count(team, "fb_post_reply") == 1


def test_comment_without_matching_rule_and_own_comments_send_nothing(client, team, page, graph):
    CommentRule.objects.create(team=team, name="關鍵字", keywords=["優惠"], reply_text="hi")
    body = changes_body(
        "page", PAGE_ID, feed_comment("555_1", "ASID-1", "好看"), feed_comment("555_2", PAGE_ID, "優惠在這")
    )
    assert post_meta(client, page, body).status_code == 200
    assert not CommentReply.objects.exists()
    # An unrelated first message stays organic.
    post_meta(client, page, meta_body("page", PAGE_ID, dm("PSID-9", PAGE_ID, "mid.9", "hi")))
    assert Contact.objects.get(external_id="PSID-9").source == "organic"


def test_forged_comment_webhook_is_refused(client, team, page):
    CommentRule.objects.create(team=team, name="任何", any_comment=True, reply_text="hi")
    body = changes_body("page", PAGE_ID, feed_comment("555_3", "ASID-1", "x"))
    assert post_meta(client, page, body, secret="wrong").status_code == 401
    assert not CommentReply.objects.exists()


@pytest.mark.parametrize(
    ("field", "source"), [("comments", "ig_post_reply"), ("live_comments", "ig_live_comment_reply")]
)
def test_ig_comment_and_live_comment_any_rule(client, team, ig, graph, field, source):
    CommentRule.objects.create(team=team, name="任何留言", any_comment=True, channel=ig, reply_text="看私訊 👀")
    private_reply_route(graph, f"/ig/v21.0/{IG_ID}/messages", recipient_id="IGSID-5")
    body = changes_body("instagram", IG_ID, ig_comment("17900000000000001", "IGSID-5", "好漂亮", field))
    assert post_meta(client, ig, body).status_code == 200
    assert comments.send_pending() == 1
    post_meta(client, ig, meta_body("instagram", IG_ID, dm("IGSID-5", IG_ID, "aWdfZAG1", "請問價格")))
    assert Contact.objects.get(external_id="IGSID-5").source == source
    assert source_count(team, source) == 1


def test_failed_private_reply_is_kept_with_its_error_and_gives_no_source(client, team, ig, graph):
    CommentRule.objects.create(team=team, name="任何留言", any_comment=True, reply_text="hi")
    graph.route(
        "POST",
        f"/ig/v21.0/{IG_ID}/messages",
        lambda r: (400, {"error": {"code": 10, "message": "This message is sent outside of allowed window."}}, {}),
    )
    post_meta(client, ig, changes_body("instagram", IG_ID, ig_comment("179_2", "IGSID-6", "hi")))
    assert comments.send_pending() == 0
    reply = CommentReply.objects.get()
    assert reply.status == "failed" and "allowed window" in reply.error
    post_meta(client, ig, meta_body("instagram", IG_ID, dm("IGSID-6", IG_ID, "aWdfZAG2", "hi")))
    assert Contact.objects.get(external_id="IGSID-6").source == "organic"


def test_ig_story_mention_and_story_reply(client, team, ig):
    mention = dm(
        "IGSID-10",
        IG_ID,
        "aWdfZAG3",
        attachments=[
            {"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}
        ],
    )
    reply = dm(
        "IGSID-11",
        IG_ID,
        "aWdfZAG4",
        "好可愛",
        reply_to={"story": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2", "id": "1790000002"}},
    )
    assert post_meta(client, ig, meta_body("instagram", IG_ID, mention, reply)).status_code == 200
    assert Contact.objects.get(external_id="IGSID-10").source == "ig_story_mention"
    story = Contact.objects.get(external_id="IGSID-11")
    assert (story.source, story.source_detail) == ("ig_story_reply", "1790000002")
    # A known contact mentioning us later keeps its source.
    post_meta(client, ig, meta_body("instagram", IG_ID, dict(mention, message={**mention["message"], "mid": "x2"})))
    assert Contact.objects.filter(external_id="IGSID-10").count() == 1
    assert source_count(team, "ig_story_mention") == 1
    assert source_count(team, "ig_story_reply") == 1


# --------------------------------------------------------------------------- events API: source, and Pixel
@pytest.fixture
def wa(team):
    return ChannelFactory(
        team=team,
        kind="whatsapp",
        external_id="106540352242922",
        credentials={"app_secret": META_SECRET, "verify_token": "wa", "access_token": "w"},
    )


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"channel_secret": "s", "access_token": "t"})


def post_events(api, *events):
    response = api.post("/api/v1/events", {"events": list(events)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("source", ["game", "app91_line_binding"])
@pytest.mark.parametrize("batched", [True, False])
def test_events_api_source_on_the_event_that_creates_the_contact(api, team, line, source, batched):
    binding = {"channel": line.pk, "external_id": "U91", "member_id": "M-91", "method": "api", "source": source}
    events = [{"id": "e1", "type": "binding", "data": binding}]
    if not batched:  # a tag event between runs applies the binding alone (handlers), not in a FastRun
        events = [{"id": "e0", "type": "tag.add", "data": {"member_id": "M-0", "tags": ["x"]}}, *events]
    outcome = post_events(api, *events)
    assert outcome["accepted"] == len(events) and not outcome["rejected"], outcome
    assert Contact.objects.get(external_id="U91").source == source
    # A later event naming another source does not change it (the contact exists).
    post_events(api, {"id": "e2", "type": "binding", "data": {**binding, "source": "coupon"}})
    assert Contact.objects.get(external_id="U91").source == source
    assert source_count(team, source) == 1


def test_events_api_unknown_source_is_rejected_with_a_code(api, team, line):
    outcome = post_events(
        api,
        {
            "id": "b1",
            "type": "binding",
            "data": {"channel": line.pk, "external_id": "U1", "method": "api", "member_id": "M", "source": "x"},
        },
    )
    assert outcome["rejected"][0]["code"] == "invalid_source"
    assert not Contact.objects.exists()


def test_pixel_member_identify_creates_and_binds_the_whatsapp_contact(api, team, wa):
    outcome = post_events(
        api,
        {
            "id": "px1",
            "type": "member.identify",
            "data": {"member_id": "M-7", "phone": "0912 345 678", "name": "Amy", "channel": wa.pk},
        },
    )
    assert outcome["accepted"] == 1, outcome
    contact = Contact.objects.get(channel=wa)
    assert (contact.external_id, contact.phone, contact.source) == ("+886912345678", "+886912345678", "pixel")
    assert contact.customer.member_id == "M-7"
    binding = contact.bindings.get()
    assert binding.method == "pixel"
    assert source_count(team, "pixel") == 1
    first = today(team).replace(day=1)
    methods = {r["method"]: r["count"] for r in services.binding_sources(team, first)["methods"]}
    assert methods["pixel"] == 1
    labels = {r["method"]: r["label"] for r in services.binding_sources(team, first)["methods"]}
    assert labels["pixel"] == "Pixel（WhatsApp 限定）"


def test_pixel_is_refused_on_other_channel_kinds(api, team, line, wa):
    outcome = post_events(
        api,
        {
            "id": "p1",
            "type": "binding",
            "data": {"channel": line.pk, "external_id": "U1", "method": "pixel", "phone": "0912345678"},
        },
        {
            "id": "p2",
            "type": "member.identify",
            "data": {"member_id": "M-1", "phone": "0912345678", "channel": line.pk},
        },
        {"id": "p3", "type": "member.identify", "data": {"member_id": "M-2", "channel": wa.pk}},
    )
    assert [r["code"] for r in outcome["rejected"]] == ["pixel_not_whatsapp", "pixel_not_whatsapp", "invalid_phone"]
    assert not Contact.objects.exists()
    from cdp.models import Customer

    assert not Customer.objects.exists()
