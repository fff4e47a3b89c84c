"""Console 優惠券管理 and the customer-facing claim page (/c/<token>/)."""

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import team_required
from accounts.models import Team
from accounts.tenancy import for_team, get_for_team_or_404
from cdp.services import binding_links
from core.errors import ServiceError

from . import services
from .forms import CampaignForm, GenerateForm, ImportForm
from .models import Campaign

MANAGE = "broadcasts.manage"


@require_GET
@team_required(MANAGE)
def index(request):
    campaigns = list(for_team(Campaign, request.team).filter(archived_at__isnull=True)[:200])
    sent = services.sent_by_campaign(request.team, campaigns)
    rows = [(c, services.status(c), sent.get(c.pk, 0), services.claims_total(c)) for c in campaigns]
    return render(request, "coupons/index.html", {"section": "coupons", "rows": rows})


@require_http_methods(["GET", "POST"])
@team_required(MANAGE)
def edit(request, pk=None):
    campaign = get_for_team_or_404(Campaign, request.team, pk) if pk else Campaign(team=request.team)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.save_campaign(form.save(commit=False))
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.messages[0])
        else:
            return redirect("coupons:detail", pk=campaign.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "coupons/edit.html", {"section": "coupons", "form": form, "campaign": campaign}, status=status
    )


@require_GET
@team_required(MANAGE)
def detail(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk)
    context = {
        "section": "coupons",
        "campaign": campaign,
        "state": services.status(campaign),
        "stats": services.statistics(campaign),
        "free_codes": campaign.codes.filter(claimed_at__isnull=True).count(),
        "pool_codes": campaign.codes.count(),
        "recent": campaign.claims.select_related("contact__channel").order_by("-claimed_at", "-id")[:20],
        "generate_form": GenerateForm(),
        "import_form": ImportForm(),
    }
    return render(request, "coupons/detail.html", context)


@require_POST
@team_required(MANAGE)
def generate(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk)
    form = GenerateForm(request.POST)
    if form.is_valid():
        try:
            added = services.generate_codes(campaign, form.cleaned_data["count"], prefix=form.cleaned_data["prefix"])
        except ServiceError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(request, _("已產生 %(n)s 組優惠碼。") % {"n": added})
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("coupons:detail", pk=campaign.pk)


@require_POST
@team_required(MANAGE)
def import_codes(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk)
    form = ImportForm(request.POST, request.FILES)
    report, error = None, None
    if form.is_valid():
        try:
            report = services.import_codes(campaign, request.FILES["file"])
        except ServiceError as exc:
            error = exc.messages[0]
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    context = {"section": "coupons", "campaign": campaign, "report": report, "error": error}
    return render(request, "coupons/import_report.html", context, status=400 if error else 200)


@require_GET
@team_required(MANAGE)
def claims_csv(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk)
    response = StreamingHttpResponse(services.claimed_codes_lines(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="coupon-{campaign.pk}-claims.csv"'
    return response


@require_POST
@team_required(MANAGE)
def archive(request, pk):
    campaign = get_for_team_or_404(Campaign, request.team, pk)
    Campaign.objects.filter(pk=campaign.pk).update(archived_at=campaign.archived_at or timezone.now())
    return redirect("coupons:index")


# ------------------------------------------------------------------------------------------------ claim page
LINK_PAGES = {
    "invalid_token": (400, "forged"),
    "foreign_token": (400, "forged"),
    "unknown_contact": (404, "forged"),
    "expired_token": (410, "expired"),
}


def _link_error(request, code):
    http_status, page = LINK_PAGES.get(code, (400, "forged"))
    return render(request, "coupons/claim.html", {"page": page}, status=http_status)


@require_http_methods(["GET", "POST"])
def claim_page(request, token):
    """The claim page of one contact (the coupon card's claim button): assigns a code (idempotent per customer and
    campaign; POST asks for one more, up to the limit) and shows it with the redeem button. Public: the signed
    token is the credential. Every failure is a clear page in the browser's language; nothing is assigned."""
    team_id = binding_links.team_of(token)
    team = Team.objects.filter(pk=team_id).first() if team_id else None
    if team is None:
        return _link_error(request, "invalid_token")
    try:
        link = binding_links.read_link(team, token)
    except ServiceError as exc:
        return _link_error(request, exc.code)
    campaign = (
        for_team(Campaign, team).filter(pk=link.ref).first()
        if isinstance(link.ref, int) and link.method == "coupon"
        else None
    )
    if campaign is None:
        return _link_error(request, "invalid_token")
    result = services.claim(campaign, link.contact, another=request.method == "POST")
    redeem_url = None
    if result.claim is not None:
        redeem_url = services.redeem_link(campaign, link.contact, result.claim)
    context = {
        "page": result.status,
        "campaign": campaign,
        "claim": result.claim,
        "claims": result.claims,
        "redeem_url": redeem_url,
        "can_claim_more": len(result.claims) < campaign.per_customer_limit and services.status(campaign) == "active",
        "token": token,
    }
    return render(request, "coupons/claim.html", context)
