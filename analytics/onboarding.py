"""The first-run checklist a new team sees on the home page (issue 20.10): the four steps that make the product
useful, each done when its data exists. Lives in analytics, the top layer, because it reads every app."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from audiences.models import AudiencePack
from cdp.models import Channel, Contact
from journeys.models import Journey, JourneyStatus


def checklist(team):
    """[{label, help, url, done}] in order; None once every step is done."""
    steps = [
        {
            "label": _("連接一個渠道"),
            "help": _("連接 LINE、WhatsApp、Facebook 或 Instagram，才能收發訊息。"),
            "url": reverse("messaging:index"),
            "done": Channel.objects.for_team(team).filter(is_sandbox=False).exists(),
        },
        {
            "label": _("匯入聯絡人"),
            "help": _("上傳 CSV，或由渠道與事件 API 帶入顧客。"),
            "url": reverse("cdp:import"),
            "done": Contact.objects.for_team(team).exists(),
        },
        {
            "label": _("建立受眾包"),
            "help": _("用標籤、屬性與行為條件圈選要溝通的顧客。"),
            "url": reverse("audiences:pack-new"),
            "done": AudiencePack.objects.for_team(team).exists(),
        },
        {
            "label": _("發佈顧客旅程"),
            "help": _("設計自動化的訊息流程並發佈。"),
            "url": reverse("journeys:index"),
            "done": Journey.objects.for_team(team).exclude(status=JourneyStatus.DRAFT).exists(),
        },
    ]
    return None if all(step["done"] for step in steps) else steps
