"""/api/v1/coupons: create (the coupon card follows), codes (generate, import with duplicates reported), statistics,
another team's campaign out of reach, bad input a 400 with nothing written."""

import pytest

from coupons.models import Campaign, CouponCode
from messaging.models import ChatbotModule

pytestmark = pytest.mark.django_db

BODY = {
    "name": "夏季券",
    "discount_text": "滿千折百",
    "starts_at": "2026-06-01T00:00:00+08:00",
    "ends_at": "2026-08-31T23:59:00+08:00",
    "redeem_url": "https://shop.example/summer",
    "redeem_button_label": "立即使用",
    "redeem_text": "結帳輸入優惠碼",
}


def test_create_codes_statistics_and_tenancy(api, other_api):
    created = api.post("/api/v1/coupons", BODY, format="json")
    assert created.status_code == 201, created.content
    campaign = created.json()
    module = ChatbotModule.objects.get(pk=campaign["module"])
    assert module.type == "coupon_card" and module.content["campaign"] == campaign["id"]
    assert campaign["per_customer_limit"] == 1
    url = f"/api/v1/coupons/{campaign['id']}/codes"
    report = api.post(url, {"codes": ["S1", "S2", "S1", "bad code"]}, format="json").json()
    assert report["imported"] == 2
    assert report["duplicates"] == [{"index": 2, "code": "S1", "note": "與第 2 列重複"}]
    assert [e["index"] for e in report["errors"]] == [3]
    assert api.post(url, {"codes": ["S2", "S3"]}, format="json").json()["imported"] == 1
    assert api.post(url, {"generate": 5, "prefix": "SU"}, format="json").json()["imported"] == 5
    assert CouponCode.objects.count() == 8 and len(api.get(url).json()["results"]) == 8
    stats = api.get(f"/api/v1/coupons/{campaign['id']}/statistics").json()
    assert stats["sent"] == 0 and stats["claim_rate"] is None
    assert other_api.get(f"/api/v1/coupons/{campaign['id']}").status_code == 404
    assert other_api.post(url, {"generate": 5}, format="json").status_code == 404


def test_bad_input_is_a_400_and_writes_nothing(api):
    bad = api.post("/api/v1/coupons", {**BODY, "ends_at": "2026-05-01T00:00:00+08:00"}, format="json")
    assert bad.status_code == 400 and "ends_at" in bad.content.decode()
    shared = api.post("/api/v1/coupons", {**BODY, "code_mode": "shared"}, format="json")
    assert shared.status_code == 400 and "shared_code" in shared.content.decode()
    assert not Campaign.objects.exists() and not ChatbotModule.objects.exists()
