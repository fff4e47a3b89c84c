"""Payment provider webhooks: verify the signature, store the event (deduplicated by its id), answer 200.
The worker (tasks.process_payment_events) marks orders paid."""

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Team

from .services import payments

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def payment_webhook(request, provider, team_id):
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return JsonResponse({"error": "unknown team"}, status=404)
    try:
        stored = payments.accept_webhook(team, provider, request.body, request.headers)
    except payments.WebhookRejected as exc:
        logger.warning("%s payment webhook for team %s rejected: %s", provider, team_id, exc.reason)
        return JsonResponse({"error": exc.reason}, status=exc.status)
    return JsonResponse({"received": True, "stored": stored})
