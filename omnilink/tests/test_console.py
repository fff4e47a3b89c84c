"""Console 社群綁定管理 > 跨社群一鍵整合: list with figures and actions, form, statistics page, lists, export."""

from datetime import timedelta

import pytest
from django.utils import timezone

from omnilink.models import Campaign

from .helpers import make_campaign
from .test_api import _participants

pytestmark = pytest.mark.django_db


def test_the_menu_opens_the_campaign_list_with_its_figures_and_actions(console, team, line, wa):
    campaign = make_campaign(team, line, wa)
    _participants(campaign, 2, 1, 1)
    body = console.get("/omnilink/").content.decode()
    assert 'href="/omnilink/"' in body  # the menu item, no longer the placeholder
    for label in ("跨社群一鍵整合", "活動統計", "編輯", "停用", "複製", campaign.name):
        assert label in body


def test_create_edit_toggle_copy(console, team, line, wa):
    data = {
        "name": "LINE 到 WhatsApp",
        "source_channel": line.pk,
        "target_channel": wa.pk,
        "image_url": "https://cdn.example.com/a.png",
        "title": "加入 WhatsApp",
        "text": "",
        "button_label": "立即加入",
        "integration_message": "我要綁定",
        "completion_hours": 24,
        "is_enabled": "on",
    }
    assert console.post("/omnilink/new/", data).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.card["button_label"] == "立即加入"
    bad = console.post(f"/omnilink/{campaign.pk}/edit/", {**data, "target_channel": line.pk})
    assert bad.status_code == 400 and "來源渠道與目標渠道必須不同" in bad.content.decode()
    assert 'value="LINE 到 WhatsApp"' in bad.content.decode()  # what the user typed is kept
    console.post(f"/omnilink/{campaign.pk}/toggle/")
    campaign.refresh_from_db()
    assert not campaign.is_enabled
    console.post(f"/omnilink/{campaign.pk}/copy/")
    assert Campaign.objects.count() == 2
    # The card module opens its campaign's form from the module list.
    response = console.get(f"/messaging/modules/{campaign.card_module_id}/")
    assert response.status_code == 302 and response["Location"] == f"/omnilink/{campaign.pk}/edit/"


def test_statistics_page_lists_and_export(console, team, line, wa):
    campaign = make_campaign(team, line, wa)
    _participants(campaign, 2, 1, 1)
    page = console.get(f"/omnilink/{campaign.pk}/statistics/").content.decode()
    for label in ("總參與人數", "目標渠道 - 新聯絡人", "成功人數", "失敗人數", "會員編號衝突", "整合成功", "整合失敗"):
        assert label in page
    assert 'data-testid="export-disabled"' in page and "設定時間區間後，才可匯出名單" in page
    today = timezone.localtime(timezone.now(), team.zone).date()
    ranged = console.get(f"/omnilink/{campaign.pk}/statistics/?start={today}&end={today}&tab=failure").content.decode()
    assert 'data-testid="export"' in ranged and "會員編號衝突" in ranged
    too_long = console.get(f"/omnilink/{campaign.pk}/statistics/?start={today - timedelta(days=100)}&end={today}")
    assert too_long.status_code == 400 and "時間區間最長可以設定 90 天" in too_long.content.decode()
    csv = console.get(f"/omnilink/{campaign.pk}/participants.csv?start={today}&end={today}&tab=success")
    assert csv.status_code == 200 and b"".join(csv.streaming_content).decode("utf-8-sig").count("\n") == 3
    refused = console.get(f"/omnilink/{campaign.pk}/participants.csv")
    assert refused.status_code == 302
