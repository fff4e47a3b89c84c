"""Ops top up and adjust a team's balance here (through billing.services); the ledger is read-only."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Account, MonthlyBill, Transaction, TransactionType


class AccountAdminForm(forms.ModelForm):
    top_up = forms.DecimalField(label=_("儲值金額"), required=False, min_value=0, max_digits=14, decimal_places=4)
    adjustment = forms.DecimalField(
        label=_("餘額調整金額"), required=False, max_digits=14, decimal_places=4, help_text=_("可為負數。")
    )
    note = forms.CharField(label=_("備註"), required=False, max_length=500)

    class Meta:
        model = Account
        fields = ["team", "low_balance_threshold", "grace_amount", "legacy_sms_credits"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["team", "balance", "low_balance_threshold", "grace_amount", "legacy_sms_credits", "updated_at"]
    search_fields = ["team__name", "team__slug"]
    autocomplete_fields = ["team"]
    readonly_fields = ["balance", "sms_credits_migrated_at", "updated_at"]
    actions = ["migrate_sms_credits"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("team")
            if obj.sms_credits_migrated_at:
                fields.append("legacy_sms_credits")
        return fields

    def save_model(self, request, obj, form, change):
        # The balance itself is never written here: only the settings, then a ledger transaction if asked.
        if change:
            Account.objects.filter(pk=obj.pk).update(
                low_balance_threshold=obj.low_balance_threshold,
                grace_amount=obj.grace_amount,
                legacy_sms_credits=obj.legacy_sms_credits,
            )
        else:
            obj.save()
        actor = f"admin:{request.user.get_username()}"
        note = form.cleaned_data.get("note") or ""
        for field, type_ in (("top_up", TransactionType.TOP_UP), ("adjustment", TransactionType.ADJUSTMENT)):
            amount = form.cleaned_data.get(field)
            if not amount:
                continue
            try:
                txn = services.credit(
                    obj.team, amount, type=type_, idempotency_key=f"{field}:{uuid.uuid4()}", note=note, actor=actor
                )
            except services.BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(
                request, _("已記錄：%(txn)s，餘額 %(balance)s") % {"txn": txn, "balance": txn.balance_after}
            )
        obj.refresh_from_db()

    @admin.action(description=_("SMS 剩餘次數轉為帳戶餘額（SMS 簡訊餘額移轉）"))
    def migrate_sms_credits(self, request, queryset):
        done = 0
        for account in queryset.select_related("team"):
            done += services.migrate_sms_credits(account.team, actor=f"admin:{request.user.get_username()}") is not None
        self.message_user(request, _("已移轉 %(n)s 個團隊的 SMS 剩餘次數。") % {"n": done})


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    """Append-only: rows are written by billing.services only."""

    list_display = ["created_at", "team", "type", "amount", "balance_after", "feature", "channel", "note", "actor"]
    list_filter = ["type", "product", "created_at"]
    search_fields = ["team__slug", "idempotency_key", "reference", "note"]
    list_select_related = ["team"]
    show_full_result_count = False


@admin.register(MonthlyBill)
class MonthlyBillAdmin(ReadOnlyAdmin):
    list_display = ["month", "team", "quantity", "amount", "currency", "emailed_at", "emailed_to"]
    list_filter = ["month"]
    search_fields = ["team__slug", "team__name"]
    list_select_related = ["team"]
    actions = ["resend"]

    @admin.action(description=_("重新寄送帳單"))
    def resend(self, request, queryset):
        sent = sum(services.send_bill_email(bill, force=True) for bill in queryset.select_related("team"))
        self.message_user(request, _("已寄出 %(n)s 份帳單。") % {"n": sent})
