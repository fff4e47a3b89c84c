"""Console 社群綁定管理 > 跨社群一鍵整合 (campaigns, statistics, participant lists, export) and the public link."""

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import team_required
from accounts.tenancy import get_for_team_or_404

from . import charts, services
from .forms import CampaignForm, RangeForm
from .models import Campaign, FailureReason, ParticipantStatus

PERMISSION = "broadcasts.manage"
LIST_PAGE = 50
_MOBILE = re.compile(r"Android|iPhone|iPad|iPod|Mobile", re.I)
# Link-preview crawlers open links in chats; they are not the customer tapping the button.
_PREVIEW_BOT = re.compile(r"facebookexternalhit|Facebot|WhatsApp/|Slackbot|Twitterbot|Discordbot|bot\b", re.I)


# ---------------------------------------------------------------------------------------------- public link
@require_GET
def link(request, token):
    """The card's button: record the first click, then open the target channel (a page when it cannot open)."""
    agent = request.headers.get("User-Agent", "")
    if _PREVIEW_BOT.search(agent):
        return render(request, "omnilink/link.html", {"state": "preview"})
    try:
        outcome = services.click(token)
    except Exception:  # noqa: BLE001 - 伺服器錯誤: never a 500 to the customer; logged and recorded with a reference
        ref = services.record_server_error(token)
        return render(request, "omnilink/link.html", {"state": "error", "ref": ref})
    if outcome.state == "pending" and _MOBILE.search(agent) and request.GET.get("page") != "1":
        return HttpResponseRedirect(outcome.url)
    context = {"state": outcome.state, "outcome": outcome, "participant": outcome.participant}
    return render(request, "omnilink/link.html", context, status=404 if outcome.state == "invalid" else 200)


# ------------------------------------------------------------------------------------------------- console
@require_GET
@team_required(PERMISSION)
def campaign_list(request):
    campaigns = list(
        Campaign.objects.for_team(request.team).select_related("source_channel", "target_channel", "card_module")
    )
    figures = services.campaign_figures(request.team, [c.pk for c in campaigns])
    for campaign in campaigns:
        campaign.figures = figures.get(campaign.pk, {})
    return render(request, "omnilink/campaigns.html", {"section": "omnilink", "campaigns": campaigns})


def _form_page(request, campaign=None):
    initial = CampaignForm.initial_for(campaign) if campaign else None
    form = CampaignForm(request.POST or None, team=request.team, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.save_campaign(team=request.team, campaign=campaign, **form.service_kwargs())
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("已儲存活動「%(name)s」。") % {"name": campaign.name})
            return redirect("omnilink:campaigns")
    context = {"section": "omnilink", "form": form, "campaign": campaign}
    return render(request, "omnilink/campaign_form.html", context, status=400 if form.errors else 200)


def _attach(form, exc):
    for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        name = field.removeprefix("content.")
        form.add_error(name if name in form.fields else None, errors)


@team_required(PERMISSION)
def campaign_new(request):
    return _form_page(request)


@team_required(PERMISSION)
def campaign_edit(request, pk):
    return _form_page(request, get_for_team_or_404(Campaign, request.team, pk=pk))


@require_POST
@team_required(PERMISSION)
def campaign_toggle(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk=pk)
    services.set_enabled(campaign, not campaign.is_enabled)
    messages.success(request, _("已啟用活動。") if campaign.is_enabled else _("已停用活動。"))
    return redirect("omnilink:campaigns")


@require_POST
@team_required(PERMISSION)
def campaign_copy(request, pk):
    campaign = services.copy_campaign(get_for_team_or_404(Campaign, request.team, pk=pk))
    messages.success(request, _("已複製為「%(name)s」（已停用）。") % {"name": campaign.name})
    return redirect("omnilink:campaign-edit", campaign.pk)


def _range(request, form):
    if not form.is_valid():
        return None, None, _("日期格式應為 YYYY-MM-DD。")
    data = form.cleaned_data
    try:
        first, last = services.parse_range(request.team, data.get("start"), data.get("end"))
    except ValidationError as exc:
        return None, None, exc.messages[0]
    return first, last, ""


@require_GET
@team_required(PERMISSION)
def campaign_statistics(request, pk):
    """活動統計: the seed's table, the daily chart and the 整合成功 / 整合失敗 lists, for a participation range."""
    campaign = get_for_team_or_404(
        Campaign.objects.select_related("source_channel", "target_channel"), request.team, pk=pk
    )
    form = RangeForm(request.GET or None)
    first, last, error = (
        _range(request, form) if request.GET.get("start") or request.GET.get("end") else (None, None, "")
    )
    tab = request.GET.get("tab") if request.GET.get("tab") in ("success", "failure", "pending") else "success"
    stats = services.statistics(campaign, first, last)
    rows = list(services.participant_list(campaign, tab, first, last)[:LIST_PAGE])
    context = {
        "section": "omnilink",
        "campaign": campaign,
        "form": form,
        "range_error": error,
        "has_range": first is not None,
        "stats": stats,
        "figure": charts.daily(stats),
        "tab": tab,
        "rows": rows,
        "reasons": FailureReason,
        "statuses": ParticipantStatus,
        "query": request.GET.urlencode(),
    }
    template = (
        "omnilink/statistics.html#lists"
        if request.htmx and request.GET.get("partial") == "lists"
        else "omnilink/statistics.html"
    )
    return render(request, template, context, status=400 if error else 200)


@require_GET
@team_required(PERMISSION)
def participants_csv(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk=pk)
    form = RangeForm(request.GET)
    first, last, error = _range(request, form)
    status = request.GET.get("tab") if request.GET.get("tab") in ParticipantStatus.values else None
    if error or first is None:
        messages.error(request, error or _("設定時間區間後，才可匯出名單。"))
        return redirect(f"{reverse('omnilink:campaign-statistics', args=[campaign.pk])}?{request.GET.urlencode()}")
    lines = services.csv_lines(campaign, status, first, last)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="omnilink-{campaign.pk}-{status or "all"}-{first}-{last}.csv"'
    )
    return response
