"""seed_demo hook: a coupon campaign with its card sent on LINE, claims and redemptions (with orders)."""

import datetime
from decimal import Decimal

from cdp.events import record_event
from cdp.models import Channel, Contact, EventType, Order
from messaging.models import OutboundMessage

from . import services
from .models import Campaign, Claim, CouponCode


def seed(team, rng, *, now):
    Claim.objects.filter(team=team).delete()
    CouponCode.objects.filter(team=team).delete()
    Campaign.objects.filter(team=team).delete()
    campaign = services.save_campaign(
        Campaign(
            team=team,
            name="週年慶九折券",
            description="全館商品適用，每人限領一張。",
            image_url="https://picsum.photos/seed/coupon/800/520",
            discount_text="全館九折",
            starts_at=now - datetime.timedelta(days=20),
            ends_at=now + datetime.timedelta(days=40),
            total_quantity=1000,
            redeem_url="https://shop.example/anniversary",
            redeem_button_label="前往官網使用",
            redeem_text="結帳時輸入優惠碼即可折抵。",
        )
    )
    services.generate_codes(campaign, 1000, prefix="AN")
    line = Channel.objects.filter(team=team, kind="line").order_by("pk").first()
    if line is None:
        return
    contacts = list(Contact.objects.filter(team=team, channel=line).order_by("pk")[:120])
    sends = [
        OutboundMessage(
            team=team,
            channel=line,
            contact=c,
            content={"type": "module", "module_id": campaign.module_id},
            origin="broadcast",
            idempotency_key=f"demo-coupon-{campaign.pk}-{c.pk}",
            status="read" if rng.random() < 0.5 else "sent",
            trackable=True,
            sent_at=now - datetime.timedelta(days=15),
            created_at=now - datetime.timedelta(days=15),
            preview=f"[優惠券卡片] {campaign.name}",
        )
        for c in contacts
    ]
    OutboundMessage.objects.bulk_create(sends)
    claimers = [c for c in contacts if rng.random() < 0.45]
    redeemed = []
    for index, contact in enumerate(claimers):
        at = now - datetime.timedelta(days=14, hours=-index)
        result = services.claim(campaign, contact, now=at)
        if result.claim is not None and rng.random() < 0.4:
            redeemed.append((contact, result.claim, at + datetime.timedelta(hours=rng.randint(1, 72))))
    event_ids = []
    for number, (_contact, claim, at) in enumerate(redeemed, start=1):
        order_id = f"DEMO-CP-{campaign.pk}-{number}"
        amount = Decimal(rng.choice([680, 880, 1280, 1980, 2560]))
        Order.objects.create(
            team=team,
            customer_id=claim.customer_id,
            order_id=order_id,
            amount=amount,
            currency=team.currency,
            items=[{"name": "週年慶商品", "quantity": 1, "price": str(amount)}],
            occurred_at=at,
        )
        event = record_event(
            team_id=team.pk,
            customer_id=claim.customer_id,
            type=EventType.COUPON_REDEEMED,
            occurred_at=at,
            data={"code": claim.code, "order_id": order_id},
        )
        event_ids.append(event.pk)
    services.redeem_from_events(team, event_ids)
