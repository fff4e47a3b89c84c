"""/api/v1/omnilink/campaigns: CRUD, statistics, participants (filters, cursor pages, CSV with a range only)."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from cdp.tests.factories import ContactFactory
from omnilink import links, services
from omnilink.models import Campaign, FailureReason, Participant

from .helpers import make_campaign

pytestmark = pytest.mark.django_db

CARD = {"image_url": "https://cdn.example.com/c.png", "title": "加入", "text": "", "button_label": "加入"}


def _payload(line, wa, **kw):
    return {
        "name": "LINE → WhatsApp",
        "source_channel": line.pk,
        "target_channel": wa.pk,
        "card": CARD,
        "integration_message": "我要綁定",
        **kw,
    }


def test_create_update_enable_copy(api, team, line, wa):
    response = api.post("/api/v1/omnilink/campaigns", _payload(line, wa), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["completion_hours"] == 24 and data["is_enabled"] and data["card"]["title"] == "加入"
    campaign = Campaign.objects.get(pk=data["id"])
    assert campaign.card_module.type == "omnilink_card" and campaign.card_module.content["campaign_id"] == campaign.pk
    response = api.patch(f"/api/v1/omnilink/campaigns/{campaign.pk}", {"completion_hours": 48}, format="json")
    assert response.status_code == 200 and response.json()["completion_hours"] == 48
    assert api.post(f"/api/v1/omnilink/campaigns/{campaign.pk}/disable").json()["is_enabled"] is False
    copy = api.post(f"/api/v1/omnilink/campaigns/{campaign.pk}/copy").json()
    assert copy["id"] != campaign.pk and copy["is_enabled"] is False
    assert copy["card_module_id"] != data["card_module_id"]


def test_bad_campaigns_are_400_and_write_nothing(api, team, line, wa, other_team):
    from cdp.tests.factories import ChannelFactory

    same_kind = ChannelFactory(team=team, kind="line")
    outsider = ChannelFactory(team=other_team, kind="whatsapp")
    sms = ChannelFactory(team=team, kind="sms")
    for payload in (
        _payload(line, same_kind),
        _payload(line, outsider),
        _payload(line, sms),
        _payload(line, wa, completion_hours=0),
        _payload(line, wa, card={**CARD, "image_url": "not a url"}),
        _payload(line, wa, integration_message=""),
    ):
        response = api.post("/api/v1/omnilink/campaigns", payload, format="json")
        assert response.status_code == 400, (payload, response.json())
    assert not Campaign.objects.exists()


def _participants(campaign, n_success, n_failure, n_pending, *, at=None):
    at = at or timezone.now()
    rows = []
    for i in range(n_success + n_failure + n_pending):
        contact = ContactFactory(channel=campaign.source_channel)
        status = "success" if i < n_success else "failure" if i < n_success + n_failure else "pending"
        rows.append(
            Participant(
                team=campaign.team,
                campaign=campaign,
                source_contact=contact,
                source_contact_ref=contact.pk,
                status=status,
                reason=FailureReason.MEMBER_ID_CONFLICT if status == "failure" else "",
                code=links.new_code() if status == "pending" else "",
                first_clicked_at=at - timedelta(minutes=i),
                deadline_at=at + timedelta(hours=24),
                completed_at=at if status != "pending" else None,
                target_is_new=status == "success",
            )
        )
    Participant.objects.bulk_create(rows)


def test_statistics_and_participants(api, team, line, wa):
    campaign = make_campaign(team, line, wa)
    _participants(campaign, 3, 2, 1)
    stats = api.get(f"/api/v1/omnilink/campaigns/{campaign.pk}/statistics").json()
    assert (stats["participants"], stats["successes"], stats["failures"], stats["pending"]) == (6, 3, 2, 1)
    assert stats["new_contacts"] == 3
    reasons = {r["reason"]: (r["label"], r["count"]) for r in stats["failure_reasons"]}
    assert len(reasons) == 7 and reasons["member_id_conflict"] == ("會員編號衝突", 2)
    page = api.get(f"/api/v1/omnilink/campaigns/{campaign.pk}/participants?status=success&page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1
    failed = api.get(f"/api/v1/omnilink/campaigns/{campaign.pk}/participants?status=failure").json()["results"]
    assert {p["reason_label"] for p in failed} == {"會員編號衝突"}


def test_ranges_are_at_most_90_days_and_the_export_needs_one(api, team, line, wa):
    campaign = make_campaign(team, line, wa)
    _participants(campaign, 2, 1, 0)
    base = f"/api/v1/omnilink/campaigns/{campaign.pk}"
    too_long = api.get(f"{base}/participants?start=2026-01-01&end=2026-04-30")
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "range_too_long"
    assert api.get(f"{base}/statistics?start=2026-01-01&end=2026-04-30").status_code == 400
    assert api.get(f"{base}/statistics?start=2026-01-01").status_code == 400
    no_range = api.get(f"{base}/participants?format=csv")
    assert no_range.status_code == 400 and no_range.json()["error"]["code"] == "range_required"
    today = timezone.localtime(timezone.now(), team.zone).date()
    response = api.get(f"{base}/participants?format=csv&status=success&start={today - timedelta(days=1)}&end={today}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["名稱", "來源渠道聯絡人 ID", "目標渠道聯絡人 ID"] and len(rows) == 3


def test_csv_defuses_formulas(api, team, line, wa):
    campaign = make_campaign(team, line, wa)
    _participants(campaign, 1, 0, 0)
    p = Participant.objects.get()
    p.source_contact.display_name = '=HYPERLINK("http://evil")'
    p.source_contact.save()
    today = timezone.localtime(timezone.now(), team.zone).date()
    lines = "".join(services.csv_lines(campaign, "success", today, today))
    assert "'=HYPERLINK" in lines


def test_another_teams_campaign_is_404(api, other_api, team, line, wa):
    campaign = make_campaign(team, line, wa)
    for path in ("", "/statistics", "/participants"):
        assert other_api.get(f"/api/v1/omnilink/campaigns/{campaign.pk}{path}").status_code == 404


def test_demo_campaign_has_successes_failures_and_pending(team, line, wa):
    import random

    from omnilink import demo

    for i in range(60):
        ContactFactory(channel=line, display_name=f"顧客 {i}")
    for i in range(40):
        ContactFactory(channel=wa, external_id=f"+8529000{i:04d}", created_at=timezone.now() - timedelta(days=i % 30))
    demo.seed(team, random.Random(3), now=timezone.now())
    campaign = Campaign.objects.get(team=team)
    stats = services.statistics(campaign)
    assert stats["successes"] >= 20 and stats["failures"] >= 10 and stats["pending"] >= 1
    assert stats["participants"] == 60 and stats["new_contacts"] >= 10
    reasons = {r["reason"]: r["count"] for r in stats["failure_reasons"]}
    assert reasons["not_completed"] and reasons["member_id_conflict"] and reasons["link_unavailable"]
