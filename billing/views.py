from django.utils.translation import gettext_lazy as _

from accounts.decorators import team_required
from accounts.views import module_pending


@team_required("billing.view")
def index(request):
    return module_pending(request, title=_("帳戶與帳單"))
