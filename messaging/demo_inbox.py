"""seed_demo hook: a few dozen recent conversations for the inbox (customers asking, agents answering, a photo or a
sticker, one failed send), some assigned to the demo login and some still unread. Rebuilt on every run, in bulk."""

from datetime import timedelta

from accounts.models import Membership
from cdp.models import Contact

from .models import Conversation, ConversationAssignment, InboundMessage, Origin, OutboundMessage, OutboundStatus

CONVERSATIONS = 36
# (customer's message or a media kind, the agent's answer or "") — the demo's stories.
SCRIPTS = [
    [("請問這件外套還有 M 號嗎？", "有的！M 號還有 3 件，今天下單明天出貨。"), ("好，那我下單了", "")],
    [("運費怎麼算？", "單筆滿 NT$1,000 免運，未滿酌收 NT$80。"), ("謝謝", "不客氣，祝您購物愉快！")],
    [("image", ""), ("這個顏色還有貨嗎？", "這款霧藍色目前缺貨，預計下週補貨，到貨後通知您好嗎？"), ("好的麻煩了", "")],
    [
        ("我要取消訂單", "好的，請提供訂單編號，我們馬上為您處理。"),
        ("#A20931", "已為您取消，退款會在 3–5 個工作天退回原付款方式。"),
    ],
    [("門市幾點開？", "信義門市 11:00–21:30，週末延長到 22:00。")],
    [("sticker", ""), ("優惠碼可以跟會員折扣一起用嗎？", "優惠碼與會員折扣可以併用，結帳時會自動計算。")],
    [("Do you ship to Hong Kong?", "Yes, we ship to Hong Kong in 3–5 business days."), ("Great, thanks!", "")],
    [("點數什麼時候會入帳？", "訂單完成後 7 天自動入帳，可在會員中心查看。"), ("了解", "")],
]
MEDIA = {"image", "sticker"}


def seed(team, rng, *, now):
    OutboundMessage.objects.filter(team=team, idempotency_key__startswith="demo:inbox:").delete()
    InboundMessage.objects.filter(team=team, external_id__startswith="demo-inbox-").delete()
    Conversation.objects.filter(team=team).delete()
    contacts = list(
        Contact.objects.for_team(team)
        .filter(channel__kind__in=["line", "facebook", "instagram", "whatsapp"], channel__status="active")
        .select_related("channel")
        .order_by("-last_customer_interaction_at", "id")[: CONVERSATIONS * 3]
    )
    if not contacts:
        return
    contacts = rng.sample(contacts, min(CONVERSATIONS, len(contacts)))
    agents = [m.user for m in Membership.objects.filter(team=team).select_related("user").order_by("id")]
    inbound, outbound, conversations, assigned = [], [], [], []
    for index, contact in enumerate(contacts):
        at = now - timedelta(minutes=rng.randint(5, 3 * 24 * 60))
        script = rng.choice(SCRIPTS)
        last_in = None
        for turn, (said, answer) in enumerate(script):
            at += timedelta(minutes=rng.randint(1, 20))
            last_in = at
            inbound.append(
                InboundMessage(
                    team=team,
                    channel=contact.channel,
                    contact=contact,
                    external_id=f"demo-inbox-{contact.pk}-{turn}",
                    kind=said if said in MEDIA else "text",
                    text="" if said in MEDIA else said,
                    occurred_at=at,
                    created_at=at,
                )
            )
            if not answer:
                continue
            at += timedelta(minutes=rng.randint(1, 15))
            status = rng.choice([OutboundStatus.READ, OutboundStatus.READ, OutboundStatus.DELIVERED])
            if index == 3 and turn == 0:
                status = OutboundStatus.FAILED
            outbound.append(
                OutboundMessage(
                    team=team,
                    channel=contact.channel,
                    contact=contact,
                    content={"type": "text", "text": answer},
                    origin=Origin.AGENT,
                    idempotency_key=f"demo:inbox:{contact.pk}:{turn}",
                    status=status,
                    preview=answer[:300],
                    created_at=at,
                    sent_at=None if status == OutboundStatus.FAILED else at,
                    delivered_at=None if status == OutboundStatus.FAILED else at,
                    read_at=at + timedelta(minutes=2) if status == OutboundStatus.READ else None,
                    error_code="demo" if status == OutboundStatus.FAILED else "",
                )
            )
        read = rng.random() < 0.6
        agent = agents[0] if agents and rng.random() < 0.4 else None
        conversations.append(
            Conversation(
                team=team,
                contact=contact,
                assignee=agent,
                assigned_at=at if agent else None,
                last_read_at=(last_in + timedelta(minutes=1)) if read and last_in else None,
                last_inbound_at=last_in,
                last_message_at=at,
            )
        )
    InboundMessage.objects.bulk_create(inbound, batch_size=1000)
    OutboundMessage.objects.bulk_create(outbound, batch_size=1000)
    Conversation.objects.bulk_create(conversations, batch_size=1000)
    for conversation in conversations:
        if conversation.assignee is not None:
            assigned.append(
                ConversationAssignment(
                    team=team,
                    conversation=conversation,
                    assignee=conversation.assignee,
                    assigned_by=conversation.assignee,
                    created_at=conversation.assigned_at,
                )
            )
    ConversationAssignment.objects.bulk_create(assigned)
