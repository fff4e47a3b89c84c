"""seed_demo hook: what issue 18's contact sources need besides the contacts cdp's demo writes (which already come
from all 20 sources): the staff and branch list behind the OMO 綁定 contacts, comment rules with their trigger counts
and private replies, and a finished LINE friend sync. Rebuilt from scratch on every run."""

from datetime import timedelta

from cdp.models import Channel, Contact, OmoAssignment, OmoKind, OmoMember, OmoMethod
from cdp.services import omo

from .models import CommentReply, CommentRule, FriendSync

STAFF = ["王店長", "林小姐", "陳先生"]
BRANCHES = ["信義旗艦店", "台中公益店", "高雄夢時代店"]
FIELD_OF_SOURCE = {"fb_post_reply": "feed", "ig_post_reply": "comments", "ig_live_comment_reply": "live_comments"}


def seed(team, rng, *, now):
    OmoAssignment.objects.filter(team=team).delete()
    OmoMember.objects.filter(team=team).delete()
    CommentReply.objects.filter(team=team).delete()
    CommentRule.objects.filter(team=team).delete()
    FriendSync.objects.filter(team=team).delete()
    members = {}
    for kind, names in ((OmoKind.STAFF, STAFF), (OmoKind.BRANCH, BRANCHES)):
        for name in names:
            members[(kind, name)] = omo.create_member(team=team, kind=kind, name=name)
    assignments = []
    for contact in Contact.objects.filter(team=team, source="omo_binding").only(
        "pk", "omo_staff", "omo_branch", "created_at"
    )[:500]:
        for kind, name in ((OmoKind.STAFF, contact.omo_staff), (OmoKind.BRANCH, contact.omo_branch)):
            if (kind, name) in members:
                method = rng.choice([OmoMethod.QR, OmoMethod.QR, OmoMethod.MANUAL, OmoMethod.KEYWORD])
                assignments.append(
                    OmoAssignment(
                        team=team, contact=contact, member=members[(kind, name)], method=method, at=contact.created_at
                    )
                )
    OmoAssignment.objects.bulk_create(assignments)

    channels = {c.kind: c for c in Channel.objects.filter(team=team, kind__in=["facebook", "instagram", "line"])}
    rules = []
    if "facebook" in channels:
        rules.append(
            CommentRule(
                team=team,
                name="貼文留言 +1 抽獎",
                channel=channels["facebook"],
                keywords=["+1", "抽"],
                reply_text="感謝留言！您的專屬優惠碼已私訊給您 🎁",
            )
        )
    if "instagram" in channels:
        rules.append(
            CommentRule(
                team=team,
                name="IG 貼文任何留言",
                channel=channels["instagram"],
                any_comment=True,
                reply_text="謝謝你的留言～私訊你商品連結 👀",
            )
        )
        rules.append(
            CommentRule(
                team=team,
                name="直播留言「想要」",
                channel=channels["instagram"],
                keywords=["想要", "+1"],
                reply_text="直播優惠連結在這裡，限時 30 分鐘！",
            )
        )
    CommentRule.objects.bulk_create(rules)
    replies = []
    for rule in rules:
        sources = (
            ["fb_post_reply"]
            if rule.channel.kind == "facebook"
            else (["ig_live_comment_reply"] if "直播" in rule.name else ["ig_post_reply"])
        )
        joined = Contact.objects.filter(team=team, channel=rule.channel, source__in=sources)[:300]
        for index, contact in enumerate(joined):
            comment_id = f"demo_{rule.pk}_{index}"
            replies.append(
                CommentReply(
                    team=team,
                    channel=rule.channel,
                    rule=rule,
                    field=FIELD_OF_SOURCE[sources[0]],
                    source=sources[0],
                    comment_id=comment_id,
                    commenter_id=contact.external_id,
                    recipient_id=contact.external_id,
                    text=rule.reply_text,
                    status="sent",
                    created_at=contact.created_at - timedelta(minutes=3),
                    sent_at=contact.created_at - timedelta(minutes=2),
                )
            )
            Contact.objects.filter(pk=contact.pk).update(source_detail=f"comment:{comment_id}")
        rule.trigger_count = len(joined) + rng.randint(5, 40)
        rule.last_triggered_at = now - timedelta(hours=rng.randint(1, 48))
        rule.save(update_fields=["trigger_count", "last_triggered_at"])
    CommentReply.objects.bulk_create(replies)
    if "line" in channels:
        synced = Contact.objects.filter(team=team, channel=channels["line"], source="api_sync").count()
        FriendSync.objects.create(
            team=team,
            channel=channels["line"],
            status="done",
            pages_done=True,
            seen=synced + 120,
            created=synced,
            existing=120,
            created_at=now - timedelta(days=20),
            finished_at=now - timedelta(days=20),
        )
