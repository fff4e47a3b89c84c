"""The low-balance warning of the console's sticky bar and the side menu's billing entry, for every member."""

from django.urls import reverse
from django.utils.translation import gettext as _

from .models import Account


def low_balance_warnings(request, team):
    """One query: the team's account. Below the grace amount the SMS features are blocked (danger); below the
    low-balance threshold it is a warning."""
    account = Account.objects.filter(team=team).only("balance", "low_balance_threshold", "grace_amount").first()
    if account is None or not (account.low or account.blocked):
        return []
    values = {"balance": f"{account.balance:,.2f}", "currency": team.currency}
    if account.blocked:
        level, message = (
            "danger",
            _("帳戶餘額不足（%(balance)s %(currency)s），已低於最低寬限金額，簡訊功能暫停使用，請儲值。"),
        )
    else:
        level, message = "warning", _("帳戶餘額過低（%(balance)s %(currency)s），請儘速儲值。")
    return [{"level": level, "message": message % values, "url": reverse("billing:index"), "menu": "billing"}]
