"""WhatsApp templates: sync from the WhatsApp Business Management API; deletion is recorded and signalled."""

import re

from django.db import transaction
from django.utils import timezone

from accounts import notify

from ..adapters import get_adapter
from ..models import ChatbotModule, TemplateStatus, WhatsAppTemplate

STATUS_MAP = {
    "APPROVED": TemplateStatus.APPROVED,
    "PENDING": TemplateStatus.PENDING,
    "IN_APPEAL": TemplateStatus.PENDING,
    "REJECTED": TemplateStatus.REJECTED,
    "PAUSED": TemplateStatus.PAUSED,
    "DISABLED": TemplateStatus.DISABLED,
}
PARAM = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def body_of(components):
    for component in components or []:
        if str(component.get("type", "")).upper() == "BODY":
            return component.get("text", "")
    return ""


def parameter_count(body):
    return len(set(PARAM.findall(body or "")))


@transaction.atomic
def sync(channel, now=None):
    """Upsert every template the API lists; templates no longer listed are recorded as deleted. Returns count."""
    if channel.is_sandbox or not (channel.credentials or {}).get("waba_id"):
        return 0
    now = now or timezone.now()
    remote = get_adapter(channel).list_templates()
    seen = set()
    for item in remote:
        body = body_of(item.get("components"))
        template, _created = WhatsAppTemplate.objects.update_or_create(
            team_id=channel.team_id,
            channel=channel,
            name=item["name"],
            language=item.get("language", ""),
            defaults={
                "external_id": str(item.get("id", "")),
                "category": str(item.get("category", "marketing")).lower(),
                "components": item.get("components") or [],
                "body": body,
                "parameter_count": parameter_count(body),
                "status": STATUS_MAP.get(str(item.get("status", "")).upper(), TemplateStatus.PENDING),
                "synced_at": now,
                "deleted_at": None,
            },
        )
        seen.add(template.pk)
    gone = WhatsAppTemplate.objects.filter(channel=channel, deleted_at__isnull=True).exclude(pk__in=seen)
    for template in gone:
        delete_template(template, reason="removed on WhatsApp")
    return len(seen)


@transaction.atomic
def delete_template(template, reason="deleted"):
    if template.deleted_at:
        return False
    WhatsAppTemplate.objects.filter(pk=template.pk).update(deleted_at=timezone.now())
    notify.emit(template.team_id, "template_deleted", template_id=template.pk, reason=reason)
    return True


@transaction.atomic
def delete_module(module):
    if module.deleted_at:
        return False
    ChatbotModule.objects.filter(pk=module.pk).update(deleted_at=timezone.now())
    notify.emit(module.team_id, "module_deleted", module_id=module.pk)
    return True
