import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from audiences import services
from audiences.models import AudiencePack, Broadcast, BroadcastStatus
from tests.factories import MembershipFactory, api_client_for

pytestmark = pytest.mark.django_db


def seed(**extra):
    call_command("seed_demo", team="demo-a", contacts=1000, seed=3, stdout=io.StringIO(), **extra)


def test_seed_demo_adds_packs_and_a_sent_broadcast_with_a_report_once():
    seed()
    packs = AudiencePack.objects.filter(team__slug="demo-a")
    assert packs.count() == 7
    assert packs.filter(archived_at__isnull=False).count() == 1
    assert {p.channel.kind for p in packs} >= {"line", "whatsapp", "facebook", "instagram"}
    assert all(p.last_count is not None for p in packs)
    gold = packs.get(name="近 30 天互動的金卡以上會員")
    assert gold.last_count == services.count_audience(team=gold.team, channel=gold.channel, conditions=gold.conditions)
    assert gold.last_count > 0

    broadcasts = {b.name: b for b in Broadcast.objects.filter(team__slug="demo-a")}
    sent = broadcasts["金卡會員專屬優惠"]
    assert sent.status == BroadcastStatus.SENT
    report = services.report(sent)
    assert report["recipients"] == gold.last_count
    assert report["sent"] == report["recipients"]  # delivered through the sandbox during the seed
    assert report["opens"] <= report["sent"] and report["clicks"] <= report["sent"]
    assert report["opens"] + report["clicks"] + report["replies"] > 0  # the sandbox simulated the customers
    assert broadcasts["週年慶開跑通知"].status == BroadcastStatus.SCHEDULED
    draft = broadcasts["美妝新品試用（草稿）"]
    assert draft.status == BroadcastStatus.DRAFT and draft.custom_conditions

    team = sent.team
    from django.test import Client

    client = Client()
    client.force_login(MembershipFactory(team=team, role="owner").user)
    html = client.get(f"/audiences/broadcasts/{sent.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    # issue 23.8: the demo broadcast went through the sandbox, which simulates sends and charges nothing
    assert report["cost"] == 0 and report["simulated"] == report["sent"] > 0
    assert "NT$0" in html  # the amount with its currency (issue 20.13)
    assert f"{report['sent']} 則沙盒模擬發送，不計費" in html
    api_report = api_client_for(team).get(f"/api/v1/broadcasts/{sent.pk}/report").json()
    assert (Decimal(api_report["cost"]), api_report["simulated"]) == (0, report["sent"])
    assert f"{report['open_rate'] * 100:.1f}%" in html and "開封率" in html and "回應率" in html

    seed(flush=True)  # re-seeding replaces the demo's packs and broadcasts instead of adding copies
    assert AudiencePack.objects.filter(team__slug="demo-a").count() == 7
    assert Broadcast.objects.filter(team__slug="demo-a").count() == 3


def test_a_large_demo_audience_is_left_to_the_worker(monkeypatch):
    from audiences import demo

    monkeypatch.setattr(demo, "DELIVER_NOW", 0)
    seed()
    sent = Broadcast.objects.get(team__slug="demo-a", name="金卡會員專屬優惠")
    assert sent.status == BroadcastStatus.SENDING and sent.recipient_count > 0
    assert services.report(sent)["sent"] == 0
    services.send_all(sent.pk)  # what the worker's task does
    sent.refresh_from_db()
    assert sent.status == BroadcastStatus.SENT
