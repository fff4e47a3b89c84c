from datetime import timedelta

from django.utils import timezone

from coupons import services
from coupons.models import Campaign


def make_campaign(team, **fields):
    now = timezone.now()
    values = {
        "name": "春季九折券",
        "description": "全館商品適用",
        "discount_text": "全館九折",
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=30),
        "redeem_url": "https://shop.example/coupon",
        "redeem_button_label": "前往官網使用",
        "redeem_text": "結帳時輸入優惠碼",
        **fields,
    }
    return services.save_campaign(Campaign(team=team, **values))
