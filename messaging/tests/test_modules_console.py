"""The chatbot module console (/messaging/modules/): each type's form, preview, delete with its warning."""

import pytest

from messaging.models import ChatbotModule
from tests.factories import MembershipFactory

from .factories import ChatbotModuleFactory

pytestmark = pytest.mark.django_db

FORMS = {
    "text_buttons": {
        "name": "新品",
        "text": "新品上市",
        "buttons-0-label": "看看",
        "buttons-0-url": "https://s.example/n",
    },
    "carousel": {
        "name": "輪播",
        "cards-0-image_url": "https://img.example/1.jpg",
        "cards-0-title": "外套",
        "cards-0-text": "保暖",
        "cards-0-label": "購買",
        "cards-0-url": "https://s.example/1",
        "cards-1-image_url": "https://img.example/2.jpg",
        "cards-1-title": "圍巾",
    },
    "image_carousel": {
        "name": "圖輪播",
        "cards-0-image_url": "https://img.example/1.jpg",
        "cards-0-label": "看",
        "cards-0-url": "https://s.example/i",
    },
    "image_map": {
        "name": "圖文",
        "image_url": "https://img.example/map.jpg",
        "areas-0-x": "0",
        "areas-0-y": "0",
        "areas-0-width": "520",
        "areas-0-height": "1040",
        "areas-0-url": "https://s.example/left",
    },
    "coupon_card": {
        "name": "券",
        "title": "九折券",
        "code": "SAVE10",
        "button_label": "使用",
        "button_url": "https://s.example/c",
    },
}


def test_create_each_type_preview_and_edit(console, team):
    for module_type, data in FORMS.items():
        response = console.post(f"/messaging/modules/new/{module_type}/", data)
        assert response.status_code == 302, (module_type, response.content.decode()[:2000])
        module = ChatbotModule.objects.get(team=team, type=module_type)
        page = console.get(f"/messaging/modules/{module.pk}/")
        assert page.status_code == 200 and 'data-testid="module-preview"' in page.content.decode()
    carousel = ChatbotModule.objects.get(team=team, type="carousel").content
    assert [c["title"] for c in carousel["cards"]] == ["外套", "圍巾"]
    assert carousel["cards"][0]["buttons"] == [{"label": "購買", "url": "https://s.example/1"}]
    assert carousel["cards"][1]["buttons"] == []
    coupon = ChatbotModule.objects.get(team=team, type="coupon_card").content
    assert coupon == {"title": "九折券", "code": "SAVE10", "button": {"label": "使用", "url": "https://s.example/c"}}
    area = ChatbotModule.objects.get(team=team, type="image_map").content["areas"][0]
    assert area == {"url": "https://s.example/left", "x": 0, "y": 0, "width": 520, "height": 1040}
    listing = console.get("/messaging/modules/").content.decode()
    assert all(data["name"] in listing for data in FORMS.values())


def test_bad_input_names_the_field_and_saves_nothing(console, team):
    data = {"name": "輪播", "cards-0-image_url": "not a url", "cards-0-title": "外套"}
    response = console.post("/messaging/modules/new/carousel/", data)
    assert response.status_code == 400
    form = response.context["form"]
    assert "cards-0-image_url" in form.errors
    assert console.post("/messaging/modules/new/coupon_card/", {"name": "x", "title": "t"}).status_code == 400
    assert console.post("/messaging/modules/new/nonsense/", {"name": "x"}).status_code == 404
    assert not ChatbotModule.objects.exists()


def test_delete_warns_about_journeys_and_notifies(console, team, monkeypatch):
    emitted = []
    monkeypatch.setattr("accounts.notify.emit", lambda team_id, kind, **kw: emitted.append((team_id, kind, kw)))
    module = ChatbotModuleFactory(team=team)
    confirm = console.get(f"/messaging/modules/{module.pk}/delete/").content.decode()
    assert "使用此模組的顧客旅程將會停止" in confirm
    assert console.post(f"/messaging/modules/{module.pk}/delete/").status_code == 302
    module.refresh_from_db()
    assert module.deleted_at is not None
    assert emitted == [(team.pk, "module_deleted", {"module_id": module.pk})]
    assert console.get(f"/messaging/modules/{module.pk}/").status_code == 404


def test_permissions_and_other_teams(client, team, other_team):
    module = ChatbotModuleFactory(team=other_team)
    for role, expected in [("marketer", 200), ("agent", 403)]:
        client.force_login(MembershipFactory(team=team, role=role).user)
        assert client.get("/messaging/modules/").status_code == expected, role
    client.force_login(MembershipFactory(team=team, role="owner").user)
    assert client.get(f"/messaging/modules/{module.pk}/").status_code == 404
    assert client.post(f"/messaging/modules/{module.pk}/delete/").status_code == 404


def test_english(console, team):
    ChatbotModuleFactory(team=team, name="Spring")
    page = console.get("/messaging/modules/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Chatbot module" in page and "New module" in page and "Carousel" in page
