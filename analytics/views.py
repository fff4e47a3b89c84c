from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from accounts.decorators import team_required
from accounts.views import module_pending


@team_required()
def home(request):
    return render(request, "analytics/home.html", {"section": "home"})


@team_required("analytics.view")
def index(request):
    return module_pending(request, title=_("全渠道顧客分析"))
