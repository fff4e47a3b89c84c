"""The role → permission matrix. The README's table is generated from ROLE_PERMISSIONS; keep them in step."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("擁有者")
    ADMIN = "admin", _("管理員")
    MARKETER = "marketer", _("行銷人員")
    CS_MANAGER = "cs_manager", _("客服主管")
    SALES_MANAGER = "sales_manager", _("業務主管")
    AGENT = "agent", _("客服人員")


# Each permission names one capability a console page or API endpoint requires.
PERMISSIONS = {
    "customers.view": _("查看顧客與聯絡人"),
    "customers.edit": _("編輯顧客、標籤、自訂屬性、取消訂閱"),
    "customers.import": _("匯入聯絡人"),
    "customers.export": _("匯出聯絡人"),
    "customers.merge": _("合併與取消合併顧客"),
    "analytics.view": _("查看分析報表"),
    "audiences.manage": _("管理受眾包"),
    "broadcasts.manage": _("建立與發送推播"),
    "journeys.manage": _("管理顧客旅程"),
    "conversations.view": _("查看對話"),
    "conversations.reply": _("回覆對話"),
    "conversations.export": _("匯出對話紀錄"),
    "autoreply.manage": _("管理關鍵字自動回覆 / 指派"),
    "channels.manage": _("連結與設定渠道"),
    "billing.view": _("查看帳戶餘額與帳單"),
    "billing.manage": _("儲值與帳單設定"),
    "sms.send": _("發送簡訊（快捷簡訊、手機綁定），自帳戶餘額扣款"),
    "team.manage": _("管理團隊設定、成員與 API 金鑰"),
    "orders.manage": _("建立與管理對話下單訂單"),
    "orders.settings": _("對話下單基本設定與目錄商品"),
}

_ALL = frozenset(PERMISSIONS)

ROLE_PERMISSIONS = {
    Role.OWNER: _ALL,
    Role.ADMIN: _ALL - {"billing.manage"},
    Role.MARKETER: frozenset(
        {
            "customers.view",
            "customers.edit",
            "customers.import",
            "customers.export",
            "analytics.view",
            "audiences.manage",
            "broadcasts.manage",
            "journeys.manage",
            "conversations.view",
        }
    ),
    Role.CS_MANAGER: frozenset(
        {
            "customers.view",
            "customers.edit",
            "analytics.view",
            "conversations.view",
            "conversations.reply",
            "conversations.export",
            "autoreply.manage",
            "sms.send",
            "orders.manage",
        }
    ),
    Role.SALES_MANAGER: frozenset(
        {
            "customers.view",
            "customers.edit",
            "analytics.view",
            "conversations.view",
            "conversations.reply",
            "conversations.export",
            "sms.send",
            "orders.manage",
        }
    ),
    Role.AGENT: frozenset({"customers.view", "conversations.view", "conversations.reply", "sms.send", "orders.manage"}),
}


# Declared by the few views every member of the team may open (the home page, the team switcher), so that
# "open to everyone" is a decision written down rather than a permission forgotten.
ANY_MEMBER = "any_member"


def role_has_permission(role, permission):
    """Whether `role` holds `permission`. A view that declares no permission (None) is open to owners only:
    permissions fail closed, so a forgotten declaration locks a page rather than opening it."""
    if permission is None:
        return role == Role.OWNER
    if permission == ANY_MEMBER:
        return role in ROLE_PERMISSIONS
    if permission not in PERMISSIONS:
        raise KeyError(f"Unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def role_may_grant(role, granted):
    """Whether someone acting with `role` may give `granted` to a member or an API key: only a role whose
    permissions are all their own. So an admin may hand out admin or below but never owner (billing.manage),
    and nobody can mint a credential that does more than they can."""
    if role not in ROLE_PERMISSIONS or granted not in ROLE_PERMISSIONS:
        return False
    return ROLE_PERMISSIONS[granted] <= ROLE_PERMISSIONS[role]
