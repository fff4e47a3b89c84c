"""WeChat in seed 000's figures: from WeChat's documented XML (plaintext and 安全模式) through the webhook and the
worker to the new-contact-sources chart — 「Wechat 收到新訊息」 is 自然流量, a keyword rule's QR scene is
關鍵字自動回覆 / 指派 — and the valid-contacts figure (an unsubscribe leaves the valid count)."""

import pytest
from django.core.cache import cache

from analytics import rollups, services
from cdp.tests.factories import ChannelFactory
from messaging.services import processing
from messaging.services.wechat_events import keyword_scene
from messaging.tests import wechat_payloads as P
from messaging.tests.factories import KeywordRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def inline(monkeypatch):
    """Tasks inline, as a worker would run them (the analytics consumers update the rollups)."""
    from django_q.conf import Conf

    from messaging.services import channel_cache

    monkeypatch.setattr(Conf, "SYNC", True)
    channel_cache.clear()
    cache.clear()


def _post(client, channel, xml, **kwargs):
    response = P.post(client, channel, xml, **kwargs)
    assert response.status_code == 200 and response.content == b"success"
    processing.drain()


def test_wechat_contacts_reach_the_source_and_valid_contact_figures(
    client, team, inline, django_capture_on_commit_callbacks
):
    credentials = {"app_id": P.APP_ID, "app_secret": P.APP_SECRET, "token": P.TOKEN, "encoding_aes_key": P.AES_KEY}
    wechat = ChannelFactory(team=team, kind="wechat", external_id=P.APP_ID, credentials=credentials)
    rule = KeywordRuleFactory(team=team, channel=wechat, keywords=["會員"], reply_text="")
    rule.tags = ["WeChat 會員"]
    rule.save()
    now = P.now()
    scene = f"qrscene_{keyword_scene(rule)}"
    with django_capture_on_commit_callbacks(execute=True):  # the on-commit consumers: the incremental rollups
        _post(client, wechat, P.event("subscribe", user="oA_subscribes", at=now - 30))  # plaintext
        _post(client, wechat, P.text("你好", "9001", user="oB_writes_first", at=now - 20), encrypted=True)
        _post(
            client, wechat, P.event("subscribe", user="oC_scans_rule_qr", at=now - 10, EventKey=scene), encrypted=True
        )
        _post(client, wechat, P.event("unsubscribe", user="oA_subscribes", at=now))

    month = services.today(team).replace(day=1)
    data = services.contact_sources(team, month)
    counts = {row["source"]: row["count"] for row in data["sources"] if row["count"]}
    assert counts == {"organic": 2, "keyword": 1} and data["total"] == 3
    (row,) = [c for c in services.valid_contacts(team)["channels"] if c["channel"]["id"] == wechat.pk]
    assert (row["total"], row["valid"], row["invalid"]) == (3, 2, 1)
    assert rollups.verify(team) == []  # the incremental rollups equal a recomputation
    rollups.rebuild(team)
    assert services.contact_sources(team, month)["total"] == 3
