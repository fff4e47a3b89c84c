"""seed_demo hook: one OmniLink campaign (LINE → WhatsApp) with successes, failures of several reasons and pending
participants over the last three weeks, made through the services (clicks, the code's arrival, the sweep), so the
bindings, merges and timeline are the real ones. Rebuilt on every run."""

from datetime import timedelta

from django.db import transaction

from cdp.models import Channel, ChannelKind, Contact

from . import links, rollup, services
from .models import Campaign, FailureReason, Participant

CARD = {
    "image_url": "https://placehold.co/600x390/png?text=OmniLink",
    "title": "加入 WhatsApp 客服專線",
    "text": "一鍵加入，會員資料自動同步",
    "button_label": "立即加入",
}


def seed(team, rng, *, now):
    for campaign in Campaign.objects.filter(team=team):
        module = campaign.card_module
        campaign.delete()
        if module is not None:
            module.delete()
    line = Channel.objects.filter(team=team, kind=ChannelKind.LINE).order_by("id").first()
    wa = Channel.objects.filter(team=team, kind=ChannelKind.WHATSAPP).order_by("id").first()
    if line is None or wa is None:
        return
    for channel, key, value in ((line, "basic_id", "@socialcdp"), (wa, "display_phone_number", "+852 9123 4567")):
        if not (channel.credentials or {}).get(key):
            channel.credentials = {**(channel.credentials or {}), key: value}
            channel.save(update_fields=["credentials"])
    campaign = services.save_campaign(
        team=team,
        name="LINE 會員一鍵加入 WhatsApp",
        source_channel=line,
        target_channel=wa,
        card=CARD,
        integration_message="我要綁定 LINE 會員",
        confirmation_message="綁定完成，之後的訂單通知會在這裡傳送給你！",
    )
    sources = list(Contact.objects.filter(team=team, channel=line).order_by("id")[:60])
    # The demo's existing WhatsApp contacts are the targets (the seeded contact count stays as asked): those that
    # joined in the last three weeks joined right after their click, so they count as 目標渠道 - 新聯絡人.
    targets = list(Contact.objects.filter(team=team, channel=wa).order_by("-created_at", "id")[:36])
    for i, source in enumerate(sources):
        clicked = now - timedelta(days=rng.randrange(0, 21), minutes=rng.randrange(0, 1440))
        target = targets[i] if i < min(36, len(targets)) else None
        if target is not None and target.created_at >= now - timedelta(days=21):
            clicked = target.created_at - timedelta(minutes=rng.randrange(1, 30))
        if i >= 54:  # the last few clicked within the window and have not sent the code yet: pending
            clicked = now - timedelta(hours=rng.randrange(1, 20))
        outcome = services.click(links.make_token(campaign.pk, source.pk), now=clicked)
        participant = outcome.participant
        if target is not None:
            at = max(target.created_at, clicked + timedelta(minutes=1))
            with transaction.atomic():  # as inside webhook processing: complete() locks the participant row
                services.complete(channel=wa, contact=target, code=participant.code, at=at)
        elif i < 40:
            Participant.objects.filter(pk=participant.pk).update(
                status="failure", reason=FailureReason.MEMBER_ID_CONFLICT, completed_at=clicked + timedelta(minutes=3)
            )
        elif i < 42:
            Participant.objects.filter(pk=participant.pk).update(
                status="failure", reason=FailureReason.LINK_UNAVAILABLE, completed_at=clicked, code=""
            )
    rollup.rebuild(campaign_ids=[campaign.pk])  # the failures above were set past the services
    # Everything older than its 24-hour window that never sent the code: 因顧客未送出整合訊息或未安裝目標渠道 APP 失敗.
    services.sweep_timeouts(now=now)
