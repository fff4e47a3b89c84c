"""The hand-written fixture timeline of the analytics tests, and every figure it must produce.

Team zone Asia/Taipei (UTC+8). Times are UTC; the comment gives the Taipei day each fact belongs to.

    LINE (L)                       Facebook (F)                   WhatsApp (W)
    Jan 05 u1 joins (organic)      Jan 12 f1 joins (FB ad→Msgr)   Jan 31 23:59 w1 joins (pixel)   [15:59Z]
    Jan 10 u2 joins (keyword)      Jan 25 f1 binds (chatbot) by   Feb 01 00:00 w2 joins (coupon)  [16:00Z]
    Jan 15 u1 binds (plugin),             email a@x → merges      Feb 02 w2 binds (OmniLink) — recorded LAST
           email a@x                      into u1's customer      Feb 03 member M9 logs in with w1's phone
    Jan 20 u1 blocks               Feb 10 f2 joins (FB post)      Feb 04 w1 binds (pixel), same phone
    Feb 01 u1 follows again [Jan 31 17:30Z]                       Feb 09 w2 blocks
    Feb 05 u2 unsubscribes broadcast
    Feb 06 u2 binds (coupon) while unsubscribed
    Feb 07 u2 unsubscribes web push (2nd unsubscribe event: u2 is already not valid, so not a 2nd unsubscribe)
    Feb 08 u2 re-subscribes broadcast: still unsubscribed from web push → stays NOT valid
    Feb 14 u3 joins (import) and binds (cart remarketing) with member id M3
    Feb 15 member M5 registers on the website (no channel contact: not an omni-customer)
"""

from datetime import UTC, datetime

from cdp.models import ChannelKind
from cdp.services import contacts as contact_services
from cdp.services import identity
from cdp.tests.factories import ChannelFactory


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build(team):
    """Create the timeline through cdp's services; return the channels and contacts by name."""
    line = ChannelFactory(team=team, kind=ChannelKind.LINE, name="LINE 官方帳號")
    fb = ChannelFactory(team=team, kind=ChannelKind.FACEBOOK, name="FB 粉絲專頁")
    wa = ChannelFactory(team=team, kind=ChannelKind.WHATSAPP, name="WhatsApp 客服")

    def join(channel, ext, when, source, phone=""):
        return contact_services.upsert_contact(
            channel=channel, external_id=ext, occurred_at=at(when), source=source, phone=phone
        ).contact

    u1 = join(line, "U1", "2026-01-05T02:00", "organic")
    u2 = join(line, "U2", "2026-01-10T03:00", "keyword")
    f1 = join(fb, "F1", "2026-01-12T04:00", "fb_ad_messenger")
    identity.bind_contact(contact=u1, method="binding_plugin", email="a@x.com", occurred_at=at("2026-01-15T05:00"))
    contact_services.block(u1, occurred_at=at("2026-01-20T06:00"))
    result = identity.bind_contact(
        contact=f1, method="chatbot_to_website", email="a@x.com", occurred_at=at("2026-01-25T07:00")
    )
    assert result.merges, "f1's binding must merge it into u1's customer"
    w1 = join(wa, "+886912345678", "2026-01-31T15:59", "pixel", phone="+886912345678")
    w2 = join(wa, "+886987654321", "2026-01-31T16:00", "coupon", phone="+886987654321")
    contact_services.follow(u1, occurred_at=at("2026-01-31T17:30"))
    identity.identify_member(team=team, member_id="M9", phone="+886912345678", occurred_at=at("2026-02-03T02:00"))
    identity.bind_contact(contact=w1, method="pixel", phone="+886912345678", occurred_at=at("2026-02-04T02:00"))
    contact_services.set_unsubscribed(u2, scope="broadcast", occurred_at=at("2026-02-05T02:00"))
    identity.bind_contact(contact=u2, method="coupon", email="b@x.com", occurred_at=at("2026-02-06T02:00"))
    contact_services.set_unsubscribed(u2, scope="web_push", occurred_at=at("2026-02-07T02:00"))
    contact_services.set_unsubscribed(u2, scope="broadcast", unsubscribed=False, occurred_at=at("2026-02-08T02:00"))
    contact_services.block(w2, occurred_at=at("2026-02-09T02:00"))
    f2 = join(fb, "F2", "2026-02-10T02:00", "fb_post_reply")
    u3 = join(line, "U3", "2026-02-14T02:00", "import")
    identity.bind_contact(contact=u3, method="cart_remarketing", member_id="M3", occurred_at=at("2026-02-14T03:00"))
    identity.identify_member(team=team, member_id="M5", email="e@x.com", occurred_at=at("2026-02-15T02:00"))
    # Arrives late: happened on Feb 2, before w2's block (Feb 9) that was already recorded.
    identity.bind_contact(contact=w2, method="omnilink", email="c@x.com", occurred_at=at("2026-02-02T01:00"))
    return {"line": line, "fb": fb, "wa": wa, "u1": u1, "u2": u2, "u3": u3, "f1": f1, "f2": f2, "w1": w1, "w2": w2}


# --- every expected figure, computed by hand from the table above ------------------------------------------------

KPIS = {
    "omni_customers": 6,  # u1+f1 (merged), u2, w1 (+M9), w2, f2, u3 (+M3); not M5 (a member with no contact)
    "bound_customers": 5,  # u1+f1, u2, w1, w2, u3
    "bound_rate": 0.8333,
    "members": 2,  # w1's (M9), u3's (M3); M5 is not an omni-customer
    "member_rate": 0.3333,
    "bound_members": 2,  # w1's, u3's
    "bound_member_rate": 0.3333,
}

# 2026-01-01 .. 2026-02-28 by month, channels L, F, W: [January, February]
OVERVIEW_MONTH = {
    "line": {"total_contacts": [2, 3], "bound_valid_contacts": [0, 2], "new_contacts": [2, 1], "unsubscribes": [1, 1]},
    "fb": {"total_contacts": [1, 2], "bound_valid_contacts": [1, 1], "new_contacts": [1, 1], "unsubscribes": [0, 0]},
    "wa": {"total_contacts": [1, 2], "bound_valid_contacts": [0, 1], "new_contacts": [1, 1], "unsubscribes": [0, 1]},
}

# 2026-01-26 .. 2026-02-08 by week (Mon Jan 26 – Sun Feb 1, Mon Feb 2 – Sun Feb 8)
OVERVIEW_WEEK = {
    "line": {"total_contacts": [2, 2], "bound_valid_contacts": [1, 1], "new_contacts": [0, 0], "unsubscribes": [0, 1]},
    "fb": {"total_contacts": [1, 1], "bound_valid_contacts": [1, 1], "new_contacts": [0, 0], "unsubscribes": [0, 0]},
    "wa": {"total_contacts": [2, 2], "bound_valid_contacts": [0, 2], "new_contacts": [2, 0], "unsubscribes": [0, 0]},
}

# 2025-12-01 .. 2026-02-28 by year: 2025 is all zeros (drawn as zero, not a gap)
OVERVIEW_YEAR = {
    "line": {"total_contacts": [0, 3], "bound_valid_contacts": [0, 2], "new_contacts": [0, 3], "unsubscribes": [0, 2]},
    "fb": {"total_contacts": [0, 2], "bound_valid_contacts": [0, 1], "new_contacts": [0, 2], "unsubscribes": [0, 0]},
    "wa": {"total_contacts": [0, 2], "bound_valid_contacts": [0, 1], "new_contacts": [0, 2], "unsubscribes": [0, 1]},
}

BINDINGS_JAN = {"total": 2, "binding_plugin": 1, "chatbot_to_website": 1}
BINDINGS_FEB = {"total": 4, "pixel": 1, "coupon": 1, "omnilink": 1, "cart_remarketing": 1}

SOURCES_JAN = {"total": 4, "organic": 1, "keyword": 1, "fb_ad_messenger": 1, "pixel": 1}
SOURCES_FEB = {"total": 3, "coupon": 1, "fb_post_reply": 1, "import": 1}

VALID = {
    "line": {"valid": 2, "invalid": 1, "total": 3, "valid_rate": 0.6667},
    "fb": {"valid": 2, "invalid": 0, "total": 2, "valid_rate": 1.0},
    "wa": {"valid": 1, "invalid": 1, "total": 2, "valid_rate": 0.5},
    "total": {"valid": 5, "invalid": 2, "total": 7, "valid_rate": 0.7143},
}


# --- March 2026: a contact from each path of issue 18 (built only by test_every_source_path_is_counted) -----------
#
#     Mar 02 w3 added by hand (手動新增)             Mar 09 i3 IG live comment → private reply → message
#     Mar 03 w4 added by staff Amy (OMO 綁定)        Mar 10 i4 IG story mention
#     Mar 04 u4 LINE friend sync (API 同步)          Mar 11 i5 IG story reply
#     Mar 05 u5 game link (events API source game)   Mar 12 w5 member M12 reported by the Pixel (member.identify)
#     Mar 06 u6 91App LINE binding (events API)      Mar 13 w6 chat-history import on connect (Pixel)
#     Mar 07 f3 FB post comment → private reply      Mar 14 w7 chat-history import (匯入名單)
#     Mar 08 i2 IG post comment → private reply      Mar 15 x1 WeChat subscribe (「Wechat 收到新訊息」: organic)
#                                                   Mar 16 x2 WeChat keyword-rule QR scan, 安全模式 (keyword)
#     Mar 31 23:30 Taipei (15:30Z) i6 IG post reply: still March

SOURCES_MAR = {
    "total": 16,
    "organic": 1,
    "keyword": 1,
    "manual": 1,
    "omo_binding": 1,
    "api_sync": 1,
    "game": 1,
    "app91_line_binding": 1,
    "fb_post_reply": 1,
    "ig_post_reply": 2,
    "ig_live_comment_reply": 1,
    "ig_story_mention": 1,
    "ig_story_reply": 1,
    "pixel": 2,
    "import": 1,
}
BINDINGS_MAR = {"total": 3, "pixel": 1, "api": 2}


def build_new_paths(team, world):
    """March's contacts, each through its path's own service (the Meta webhook paths are covered end to end in
    analytics/tests/test_new_sources.py; here their contacts carry the source those paths record). WeChat's come
    through its webhook, in WeChat's XML (plaintext and 安全模式), and the worker's processing."""
    from cdp.services import events_api, omo
    from cdp.services.contacts import add_whatsapp_numbers

    line, fb, wa = world["line"], world["fb"], world["wa"]
    ig = ChannelFactory(team=team, kind=ChannelKind.INSTAGRAM, name="IG 帳號")

    def join(channel, ext, when, source, phone=""):
        return contact_services.upsert_contact(
            channel=channel, external_id=ext, occurred_at=at(when), source=source, phone=phone
        ).contact

    add_whatsapp_numbers(channel=wa, numbers=["0911 000 003"], occurred_at=at("2026-03-02T02:00"))
    amy = omo.create_member(team=team, kind="staff", name="Amy")
    omo.add_customer(team=team, channel=wa, external_id="0911000004", member=amy, occurred_at=at("2026-03-03T02:00"))
    join(line, "U" + "4" * 32, "2026-03-04T02:00", "api_sync")
    outcome = events_api.process(
        team,
        {
            "events": [
                {
                    "id": "mar-game",
                    "type": "binding",
                    "occurred_at": "2026-03-05T10:00:00+08:00",
                    "data": {
                        "channel": line.pk,
                        "external_id": "U" + "5" * 32,
                        "member_id": "G5",
                        "method": "api",
                        "source": "game",
                    },
                },
                {
                    "id": "mar-91app",
                    "type": "binding",
                    "occurred_at": "2026-03-06T10:00:00+08:00",
                    "data": {
                        "channel": line.pk,
                        "external_id": "U" + "6" * 32,
                        "member_id": "A6",
                        "method": "api",
                        "source": "app91_line_binding",
                    },
                },
                {
                    "id": "mar-pixel",
                    "type": "member.identify",
                    "occurred_at": "2026-03-12T10:00:00+08:00",
                    "data": {"member_id": "M12", "phone": "0911000005", "channel": wa.pk},
                },
            ]
        },
    )
    assert outcome.accepted == 3 and not outcome.rejected, outcome.as_dict()
    join(fb, "F3", "2026-03-07T02:00", "fb_post_reply")
    join(ig, "I2", "2026-03-08T02:00", "ig_post_reply")
    join(ig, "I3", "2026-03-09T02:00", "ig_live_comment_reply")
    join(ig, "I4", "2026-03-10T02:00", "ig_story_mention")
    join(ig, "I5", "2026-03-11T02:00", "ig_story_reply")
    join(wa, "+886911000006", "2026-03-13T02:00", "pixel", phone="+886911000006")
    join(wa, "+886911000007", "2026-03-14T02:00", "import", phone="+886911000007")
    join(ig, "I6", "2026-03-31T15:30", "ig_post_reply")
    wechat = _wechat_followers(team)
    return {**world, "ig": ig, "wechat": wechat}


def _wechat_followers(team):
    """x1 subscribes (plaintext POST); x2 subscribes by scanning a keyword rule's QR code (安全模式 POST)."""
    from django.test import Client

    from messaging.services import channel_cache, processing
    from messaging.services.wechat_events import keyword_scene
    from messaging.tests import wechat_payloads as P
    from messaging.tests.factories import KeywordRuleFactory

    channel_cache.clear()  # channel ids are reused across tests
    credentials = {"app_id": P.APP_ID, "app_secret": P.APP_SECRET, "token": P.TOKEN, "encoding_aes_key": P.AES_KEY}
    wechat = ChannelFactory(team=team, kind=ChannelKind.WECHAT, external_id=P.APP_ID, credentials=credentials)
    rule = KeywordRuleFactory(team=team, channel=wechat, keywords=["會員"], reply_text="")
    client = Client()
    for xml, encrypted in (
        (P.event("subscribe", user="oX1", at=int(at("2026-03-15T02:00").timestamp())), False),
        (
            P.event(
                "subscribe",
                user="oX2",
                at=int(at("2026-03-16T02:00").timestamp()),
                EventKey=f"qrscene_{keyword_scene(rule)}",
            ),
            True,
        ),
    ):
        response = P.post(client, wechat, xml, encrypted=encrypted)
        assert response.status_code == 200 and response.content == b"success", response.content
    processing.drain()
    return wechat
