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


# --------------------------------------------------------------------------- 手動新增 (WhatsApp only)
def test_manual_whatsapp_numbers_from_the_channel_page(console, team, wa, line):
    page = console.get(f"/messaging/channels/{wa.pk}/")
    assert page.status_code == 200 and b'data-testid="manual-numbers"' in page.content
    assert b'data-testid="manual-numbers"' not in console.get(f"/messaging/channels/{line.pk}/").content
    url = f"/messaging/channels/{wa.pk}/manual-numbers/"
    response = console.post(url, {"numbers": "0912 345 678\n+886987654321, 0912-345-678"})
    assert response.status_code == 302
    contacts = Contact.objects.filter(channel=wa).order_by("external_id")
    assert [(c.external_id, c.phone, c.source) for c in contacts] == [
        ("+886912345678", "+886912345678", "manual"),
        ("+886987654321", "+886987654321", "manual"),
    ]
    # A bad number refuses the lot, naming it; nothing written.
    response = console.post(url, {"numbers": "0911 111 111\nabc"})
    assert response.status_code == 400 and b"abc" in response.content
    assert Contact.objects.filter(channel=wa).count() == 2
    # Only WhatsApp channels.
    assert console.post(f"/messaging/channels/{line.pk}/manual-numbers/", {"numbers": "0912345678"}).status_code == 404
    assert source_count(team, "manual") == 2


# --------------------------------------------------------------------------- LINE 好友同步 (API 同步)
@pytest.fixture
def line_api(settings):
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        yield server


def followers(pages, profiles, fail=None):
    """GET /v2/bot/followers/ids pages ({"userIds": [...], "next": token}) and GET /v2/bot/profile/{userId}."""
    calls = {"n": 0}

    def ids(request):
        if fail and fail(request):
            return fail(request)
        query = dict(part.split("=", 1) for part in request["query"].split("&") if part)
        page = int(query.get("start", "0").replace("tok", "") or 0)
        body = {"userIds": pages[page]}
        if page + 1 < len(pages):
            body["next"] = f"tok{page + 1}"
        return 200, body, {}

    def profile(request):
        calls["n"] += 1
        user = request["path"].rsplit("/", 1)[1]
        if user not in profiles:
            return 404, {"message": "Not found"}, {}
        return 200, {"userId": user, "displayName": profiles[user], "pictureUrl": "https://p", "language": "zh-TW"}, {}

    return ids, profile, calls


def test_line_friend_sync_pages_profiles_new_get_api_sync_existing_untouched(console, team, line, line_api):
    from cdp.tests.factories import ContactFactory
    from messaging.models import FriendSync
    from messaging.services import friend_sync

    existing = ContactFactory(team=team, channel=line, external_id="U2", display_name="老朋友", source="keyword")
    pages = [["U1", "U2"], ["U3", "U4"]]
    ids, profile, calls = followers(pages, {"U1": "小明", "U2": "X", "U3": "小華"})
    line_api.route("GET", "/v2/bot/followers/ids", ids)
    for user in ("U1", "U2", "U3", "U4"):
        line_api.route("GET", f"/v2/bot/profile/{user}", profile)
    assert console.post(f"/messaging/channels/{line.pk}/friend-sync/").status_code == 302
    job = FriendSync.objects.get()
    # Resumable: a few steps, then a "new worker" carries on from the saved state.
    friend_sync.run(job.pk, max_steps=2)
    job.refresh_from_db()
    assert job.status == "running" and job.seen == 2 and job.pending_ids == [] and job.next_start == "tok1"
    friend_sync.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.seen, job.created, job.existing, job.skipped, job.progress) == ("done", 4, 2, 1, 1, 100)
    assert calls["n"] == 3  # no profile call for the existing contact
    assert [r["headers"]["authorization"] for r in line_api.requests][:1] == ["Bearer t"]
    assert [r["query"] for r in line_api.requests if r["path"].endswith("/ids")] == [
        "limit=1000",
        "limit=1000&start=tok1",
    ]
    made = {c.external_id: (c.display_name, c.source) for c in Contact.objects.filter(channel=line)}
    assert made == {"U1": ("小明", "api_sync"), "U2": ("老朋友", "keyword"), "U3": ("小華", "api_sync")}
    existing.refresh_from_db()
    assert existing.source == "keyword"
    page = console.get(f"/messaging/channels/{line.pk}/friend-sync/")
    assert b'data-status="done"' in page.content and b"100%" in page.content
    assert source_count(team, "api_sync") == 2


def test_line_friend_sync_backs_off_on_429_and_explains_403(team, line, line_api):
    from django.utils import timezone

    from messaging.models import FriendSync
    from messaging.services import friend_sync

    limited = {"n": 0}

    def ids(request):
        limited["n"] += 1
        if limited["n"] == 1:
            return 429, {"message": "The API rate limit has been exceeded. Try again later."}, {"Retry-After": "7"}
        return 200, {"userIds": ["U9"]}, {}

    line_api.route("GET", "/v2/bot/followers/ids", ids)
    line_api.route("GET", "/v2/bot/profile/U9", lambda r: (200, {"userId": "U9", "displayName": "九"}, {}))
    job = friend_sync.start(channel=line)
    friend_sync.run(job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.retry_at > timezone.now() and "429" in job.error
    assert friend_sync.run(job.pk).retry_at is not None and limited["n"] == 1  # waits: no call before retry_at
    FriendSync.objects.filter(pk=job.pk).update(retry_at=timezone.now())
    assert friend_sync.resume() == 1
    job.refresh_from_db()
    assert (job.status, job.created, job.error) == ("done", 1, "")

    line_api.route(
        "GET",
        "/v2/bot/followers/ids",
        lambda r: (403, {"message": "Access to this API is not available for your account"}, {}),
    )
    job = friend_sync.start(channel=line)
    friend_sync.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "403" in job.error and "認證" in job.error


# --------------------------------------------------------------------------- OMO 綁定
def test_omo_staff_and_branch_qr_links_bind_new_and_existing_contacts(console, client, team, page):
    from cdp.models import OmoAssignment, OmoMember
    from messaging.tests.payloads import LINE_SECRET, line_body, line_text, post_line, wa_body, wa_change

    line_ch = ChannelFactory(
        team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t", "basic_id": "@shop"}
    )
    wa_ch = ChannelFactory(
        team=team,
        kind="whatsapp",
        external_id="106540352242922",
        credentials={"app_secret": META_SECRET, "access_token": "w", "display_phone_number": "+886 2 1234 5678"},
    )
    assert console.post("/customers/omo/", {"form": "member", "kind": "staff", "name": "王店長"}).status_code == 302
    assert console.post("/customers/omo/", {"form": "member", "kind": "branch", "name": "信義店"}).status_code == 302
    assert console.post("/customers/omo/", {"form": "member", "kind": "staff", "name": "王店長"}).status_code == 400
    staff = OmoMember.objects.get(kind="staff")
    branch = OmoMember.objects.get(kind="branch")
    listing = console.get("/customers/omo/").content.decode()
    assert f"https://line.me/R/oaMessage/%40shop/?OMO-{staff.code}" in listing
    assert f"https://wa.me/886212345678?text=OMO-{branch.code}" in listing
    assert f"https://m.me/{PAGE_ID}?ref=omo-{staff.code}" in listing
    assert "<svg" in listing

    # LINE: the prefilled code is the first message.
    assert (
        post_line(
            client, line_ch, line_body(line_text(f"OMO-{staff.code}", user="U-omo", ts=now_ms() - 5000))
        ).status_code
        == 200
    )
    # WhatsApp: the prefilled code of the branch link.
    message = {"from": "886911222333", "id": "wamid.OMO1", "timestamp": str(int(time.time())), "type": "text"}
    message["text"] = {"body": f"OMO-{branch.code} 你好"}
    body = wa_body(wa_change("106540352242922", messages=[message], contacts=[{"wa_id": "886911222333"}]))
    from messaging.tests.payloads import post_meta as post_signed

    assert post_signed(client, wa_ch, body, path="whatsapp").status_code == 200
    # Messenger: the m.me ref=omo-<code> referral.
    referral = {"sender": {"id": "PSID-omo"}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms()}
    referral["referral"] = {"ref": f"omo-{staff.code}", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    assert post_meta(client, page, meta_body("page", PAGE_ID, referral)).status_code == 200

    u = Contact.objects.get(external_id="U-omo")
    w = Contact.objects.get(external_id="+886911222333")
    m = Contact.objects.get(external_id="PSID-omo")
    assert (u.source, u.omo_staff) == ("omo_binding", "王店長")
    assert (w.source, w.omo_branch) == ("omo_binding", "信義店")
    assert (m.source, m.omo_staff) == ("omo_binding", "王店長")
    # An existing contact scanning a branch QR is bound, its source unchanged.
    post_line(client, line_ch, line_body(line_text(f"OMO-{branch.code}", user="U-omo", ts=now_ms())))
    u.refresh_from_db()
    assert (u.source, u.omo_staff, u.omo_branch) == ("omo_binding", "王店長", "信義店")
    assert OmoAssignment.objects.filter(contact=u).count() == 2
    assert source_count(team, "omo_binding") == 3


def test_omo_manual_add_and_transfer_are_recorded_and_shown_on_the_360_page(console, team, wa, owner):
    from cdp.models import OmoAssignment
    from cdp.services import omo

    amy = omo.create_member(team=team, kind="staff", name="Amy")
    ben = omo.create_member(team=team, kind="staff", name="Ben")
    response = console.post(
        "/customers/omo/",
        {"form": "add", "member": amy.pk, "channel": wa.pk, "external_id": "0912 000 111", "display_name": "林小姐"},
    )
    assert response.status_code == 302
    contact = Contact.objects.get(channel=wa)
    assert (contact.external_id, contact.source, contact.omo_staff) == ("+886912000111", "omo_binding", "Amy")
    bad = console.post("/customers/omo/", {"form": "add", "member": amy.pk, "channel": wa.pk, "external_id": "12"})
    assert bad.status_code == 400 and Contact.objects.count() == 1
    page = console.get(f"/customers/{contact.customer_id}/").content.decode()
    assert "Amy（—）" in page and 'data-testid="omo-transfer"' in page
    assert console.post(f"/customers/contacts/{contact.pk}/omo/", {"member": ben.pk}).status_code == 302
    contact.refresh_from_db()
    assert contact.omo_staff == "Ben" and contact.source == "omo_binding"
    moves = list(OmoAssignment.objects.filter(contact=contact).order_by("id").values_list("method", "previous", "by"))
    assert moves == [("manual", "", owner.pk), ("transfer", "Amy", owner.pk)]
    assert "Ben（—）" in console.get(f"/customers/{contact.customer_id}/").content.decode()
    log = console.get("/customers/omo/").content.decode()
    assert "手動移轉" in log and "手動新增客戶" in log
    assert source_count(team, "omo_binding") == 1


def test_keyword_rule_assigning_a_listed_branch_gives_omo_binding(client, team):
    from cdp.services import omo
    from messaging.tests.factories import KeywordRuleFactory
    from messaging.tests.payloads import LINE_SECRET, line_body, line_text, post_line

    line_ch = ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})
    omo.create_member(team=team, kind="branch", name="台中店")
    KeywordRuleFactory(team=team, keywords=["台中"], assign_branch="台中店")
    KeywordRuleFactory(team=team, keywords=["台北"], assign_branch="台北店")  # not a listed branch: keyword source
    texts = (line_text("台中", user="U-tc", ts=now_ms() - 2), line_text("台北", user="U-tp", ts=now_ms() - 1))
    post_line(client, line_ch, line_body(*texts))
    tc = Contact.objects.get(external_id="U-tc")
    assert (tc.source, tc.omo_branch) == ("omo_binding", "台中店")
    assert tc.omo_assignments.get().method == "keyword"
    assert Contact.objects.get(external_id="U-tp").source == "keyword"
    assert (source_count(team, "omo_binding"), source_count(team, "keyword")) == (1, 1)


# --------------------------------------------------------------------------- WhatsApp chat-history import
HISTORY_CSV = "電話號碼,名稱,最後訊息時間\n0912 345 678,陳小明,2026-11-20 10:00\n+85291234567,Amy,2026/11/21 09:30:05\n"


def test_whatsapp_chat_history_from_the_channel_page_gives_pixel(console, team, wa):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("chats.csv", HISTORY_CSV.encode(), content_type="text/csv")
    response = console.post(f"/messaging/channels/{wa.pk}/chat-history/", {"file": upload})
    assert response.status_code == 302 and "/customers/import/" in response["Location"]
    contacts = {c.external_id: c for c in Contact.objects.filter(channel=wa)}
    assert set(contacts) == {"+886912345678", "+85291234567"}
    amy = contacts["+85291234567"]
    assert (amy.display_name, amy.source, amy.phone) == ("Amy", "pixel", "+85291234567")
    assert amy.last_customer_interaction_at.isoformat() == "2026-11-21T01:30:05+00:00"  # Taipei → UTC
    assert source_count(team, "pixel") == 2
    bad = SimpleUploadedFile("x.csv", b"phone\n0912345678\n", content_type="text/csv")
    assert console.post(f"/messaging/channels/{wa.pk}/chat-history/", {"file": bad}).status_code == 302
    assert Contact.objects.filter(channel=wa).count() == 2


def test_whatsapp_chat_history_through_the_contacts_import_is_import(console, team, wa):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cdp.models import ImportJob

    upload = SimpleUploadedFile("chats.csv", HISTORY_CSV.encode(), content_type="text/csv")
    assert console.post("/customers/import/", {"file": upload, "channel": wa.pk}).status_code == 302
    job = ImportJob.objects.get()
    page = console.get(f"/customers/import/{job.pk}/mapping/").content.decode()
    assert "最後訊息時間" in page
    response = console.post(
        f"/customers/import/{job.pk}/mapping/", {"col_0": "key", "col_1": "name", "col_2": "last_message_at"}
    )
    assert response.status_code == 302
    assert {c.source for c in Contact.objects.filter(channel=wa)} == {"import"}
    assert Contact.objects.get(external_id="+886912345678").last_customer_interaction_at is not None
    assert source_count(team, "import") == 2


def test_contact_sources_card_hides_impossible_rows_behind_show_all(console, team, line):
    import json as _json
    import re

    from cdp.services.contacts import upsert_contact

    upsert_contact(channel=line, external_id="U-sources-card")  # one contact this month: the card has data
    rollups.rebuild(team)

    def rows(query=""):
        html = console.get(f"/analytics/cards/contact_sources/{query}").content.decode()
        figure = re.search(r'id="chart-contact_sources">(.*?)</script>', html, re.S).group(1)
        return html, _json.loads(figure)["data"][0]["y"]

    html, labels = rows()
    assert "Pixel" not in labels and "手動新增" not in labels and "IG 限動標註" not in labels  # no WhatsApp / IG
    assert "API 同步" in labels and "自然流量" in labels
    assert 'data-hidden-sources="10"' in html
    html, labels = rows("?all_sources=1")
    assert len(labels) == 20 and "data-hidden-sources" not in html


# --------------------------------------------------------------------------- CSV 推播
def test_csv_broadcast_imports_then_targets_exactly_the_file(team, line):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audiences import services as audiences
    from cdp.tests.factories import ContactFactory

    known = ContactFactory(team=team, channel=line, external_id="U" + "a" * 32, source="organic")
    ContactFactory(team=team, channel=line, external_id="U" + "c" * 32)  # not in the file: not an audience member
    csv_text = f"LINE UID\n{'U' + 'a' * 32}\n{'U' + 'b' * 32}\n"
    upload = SimpleUploadedFile("vip.csv", csv_text.encode(), content_type="text/csv")
    broadcast, job = audiences.csv_broadcast(team=team, name="VIP 限定", channel=line, upload=upload)
    assert job.status == "done" and job.applied_rows == 2
    new = Contact.objects.get(external_id="U" + "b" * 32)
    assert new.source == "import"
    known.refresh_from_db()
    assert known.source == "organic"
    members = audiences.audience(team=team, channel=line, conditions=broadcast.custom_conditions)
    ids = set(members.values_list("pk", flat=True)) if hasattr(members, "values_list") else {c.pk for c in members}
    assert ids == {known.pk, new.pk}
    assert source_count(team, "import") == 1


def test_csv_broadcast_from_the_broadcasts_page(console, team, line):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audiences.models import Broadcast

    assert b'data-testid="csv-broadcast"' in console.get("/audiences/broadcasts/").content
    upload = SimpleUploadedFile("list.csv", f"uid\n{'U' + 'd' * 32}\n".encode(), content_type="text/csv")
    response = console.post("/audiences/broadcasts/csv/", {"name": "名單推播", "channel": line.pk, "file": upload})
    broadcast = Broadcast.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/broadcasts/{broadcast.pk}/edit/")
    assert broadcast.status == "draft" and broadcast.custom_conditions["children"][0]["type"] == "tag"
    assert Contact.objects.get(external_id="U" + "d" * 32).source == "import"
    assert source_count(team, "import") == 1
    bad = SimpleUploadedFile("bad.csv", b"uid\nnot-a-uid\n", content_type="text/csv")
    assert console.post("/audiences/broadcasts/csv/", {"channel": line.pk, "file": bad}).status_code == 302
    assert Broadcast.objects.count() == 1
