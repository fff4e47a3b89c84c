"""Seed 004 around the ledger: SMS credit migration, top-ups, low-balance notices and warnings, the monthly SMS
bill, the account overview, and the billing API."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.admin.sites import AdminSite
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import services, tasks
from billing.admin import AccountAdmin
from billing.models import Account, LowBalanceNotice, MonthlyBill, Transaction, TransactionType
from tests.factories import MembershipFactory, api_client_for

SMS = TransactionType.SMS_DEBIT
TPE = datetime.timezone(datetime.timedelta(hours=8))


def sms(team, key, *, feature="quick_sms", channel="LINE 官方帳號", at=None, quantity=1):
    txn = services.debit(
        team, quantity, type=SMS, idempotency_key=key, feature=feature, channel=channel, quantity=quantity
    )
    if at is not None:
        Transaction.objects.filter(pk=txn.pk).update(created_at=at)
        services.rebuild_usage(team)  # back-dated past the services: the rollup follows the ledger
    return txn


# --- SMS credit migration and top-ups --------------------------------------------------------------------------


def test_migrate_sms_credits_is_one_adjustment_and_idempotent(team, other_team):
    Account.objects.create(team=team, legacy_sms_credits=1000)
    Account.objects.create(team=other_team, legacy_sms_credits=5)
    out = StringIO()
    call_command("migrate_sms_credits", "--team", team.slug, stdout=out)
    txn = Transaction.objects.get(team=team)
    assert (txn.type, txn.amount, txn.note) == (TransactionType.ADJUSTMENT, Decimal("1000"), "SMS 簡訊餘額移轉")
    assert services.balance(team) == Decimal("1000") and services.balance(other_team) == 0  # --team only
    call_command("migrate_sms_credits", stdout=out)
    call_command("migrate_sms_credits", stdout=out)
    assert Transaction.objects.filter(team=team).count() == 1 and services.balance(team) == Decimal("1000")
    assert services.balance(other_team) == Decimal("5")
    assert Account.objects.get(team=team).legacy_sms_credits == 0


def test_migrate_sms_credits_unknown_team_is_an_error(db):
    with pytest.raises(CommandError):
        call_command("migrate_sms_credits", "--team", "nope")


def test_admin_action_migrates_credits_once(team, admin_user):
    account = Account.objects.create(team=team, legacy_sms_credits=7)
    model_admin = AccountAdmin(Account, AdminSite())
    request = RequestFactory().post("/")
    request.user = admin_user
    model_admin.message_user = lambda *args, **kwargs: None
    model_admin.migrate_sms_credits(request, Account.objects.filter(pk=account.pk))
    model_admin.migrate_sms_credits(request, Account.objects.filter(pk=account.pk))
    assert list(Transaction.objects.filter(team=team).values_list("note", "amount")) == [
        ("SMS 簡訊餘額移轉", Decimal("7"))
    ]


def test_admin_top_up_goes_through_the_ledger(team, admin_client):
    account = services.get_account(team)
    response = admin_client.post(
        f"/admin/billing/account/{account.pk}/change/",
        {
            "low_balance_threshold": "50",
            "grace_amount": "-10",
            "legacy_sms_credits": "0",
            "top_up": "300",
            "adjustment": "",
            "note": "匯款 123",
        },
    )
    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert (account.balance, account.low_balance_threshold, account.grace_amount) == (300, 50, -10)
    txn = Transaction.objects.get(team=team)
    assert txn.type == TransactionType.TOP_UP and txn.note == "匯款 123" and txn.actor.startswith("admin:")
    assert admin_client.get(f"/admin/billing/transaction/{txn.pk}/change/").status_code == 200  # view only
    assert admin_client.post(f"/admin/billing/transaction/{txn.pk}/delete/").status_code == 403


def test_billing_top_up_command(team):
    out = StringIO()
    call_command("billing_top_up", team.slug, "250.5", "--note", "wire", stdout=out)
    txn = Transaction.objects.get(team=team)
    assert (txn.type, txn.amount, txn.note) == (TransactionType.TOP_UP, Decimal("250.5"), "wire")
    with pytest.raises(CommandError):
        call_command("billing_top_up", team.slug, "-5")
    with pytest.raises(CommandError):
        call_command("billing_top_up", "nope", "5")


# --- low balance -------------------------------------------------------------------------------------------------


def test_low_balance_email_at_most_once_per_team_local_day(team, django_capture_on_commit_callbacks):
    team.billing_email = "billing@example.com"
    team.save()
    Account.objects.create(team=team, balance=Decimal("3"), low_balance_threshold=Decimal("5"))
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            sms(team, f"k{n}")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["billing@example.com"]
    assert "餘額過低" in mail.outbox[0].subject
    notice = LowBalanceNotice.objects.get(team=team)
    assert notice.day == timezone.localdate(timezone=datetime.timezone(datetime.timedelta(hours=8)))
    LowBalanceNotice.objects.update(day=notice.day - datetime.timedelta(days=1))  # "yesterday's"
    with django_capture_on_commit_callbacks(execute=True):
        sms(team, "next-day")
    assert len(mail.outbox) == 2


def test_the_hourly_backstop_sends_the_email_a_dead_worker_skipped(team, other_team):
    """The debit committed but its after-commit call never ran (captured, not executed): the schedule sends it, once."""
    team.billing_email = "billing@example.com"
    team.save()
    Account.objects.create(team=team, balance=Decimal("3"), low_balance_threshold=Decimal("5"))
    Account.objects.create(team=other_team, balance=Decimal("50"), low_balance_threshold=Decimal("5"))
    sms(team, "k0")  # on_commit callbacks are not run inside the test transaction
    assert len(mail.outbox) == 0
    assert tasks.send_due_low_balance_emails() == 1
    assert tasks.send_due_low_balance_emails() == 0
    assert len(mail.outbox) == 1 and LowBalanceNotice.objects.get().team == team


def test_no_low_balance_email_above_the_threshold(team, django_capture_on_commit_callbacks):
    team.billing_email = "billing@example.com"
    team.save()
    Account.objects.create(team=team, balance=Decimal("500"), low_balance_threshold=Decimal("5"))
    with django_capture_on_commit_callbacks(execute=True):
        sms(team, "k")
    assert mail.outbox == [] and not LowBalanceNotice.objects.exists()


@pytest.mark.parametrize("role", ["owner", "agent"])
def test_every_member_sees_the_sticky_bar_and_the_menu_badge(client, team, role):
    user = MembershipFactory(team=team, role=role).user
    client.force_login(user)
    Account.objects.create(team=team, balance=Decimal("20"), low_balance_threshold=Decimal("100"))
    page = client.get("/").content.decode()
    assert 'class="sticky-bar"' in page and "帳戶餘額過低" in page and 'class="badge badge-danger"' in page
    Account.objects.filter(team=team).update(balance=Decimal("-1"), grace_amount=Decimal("0"))
    assert "簡訊功能暫停使用" in client.get("/").content.decode()
    services.credit(team, 500, type=TransactionType.TOP_UP, idempotency_key="t")
    assert 'class="sticky-bar"' not in client.get("/").content.decode()


# --- monthly SMS bill --------------------------------------------------------------------------------------------


def test_the_bill_groups_by_feature_and_channel_in_the_team_month(team):
    services.credit(team, 1000, type=TransactionType.TOP_UP, idempotency_key="top-up")
    oct_ = datetime.datetime(2026, 10, 15, 12, tzinfo=TPE)
    sms(team, "a", at=oct_)
    sms(team, "b", at=oct_, quantity=2)
    sms(team, "c", feature="phone_binding", at=oct_)
    sms(team, "d", channel="LINE B", at=oct_)
    sms(team, "e", at=datetime.datetime(2026, 10, 1, 0, 30, tzinfo=TPE))  # 9/30 in UTC, October in Taipei
    sms(team, "f", at=datetime.datetime(2026, 11, 1, 0, 30, tzinfo=TPE))  # November in Taipei
    sms(team, "g", at=oct_)
    services.refund(team, idempotency_key="rg", of_key="g")
    Transaction.objects.filter(idempotency_key="rg").update(created_at=oct_)
    bill = services.create_monthly_bill(team, datetime.date(2026, 10, 1))
    assert bill.lines == [
        {"feature": "phone_binding", "channel": "LINE 官方帳號", "quantity": 1, "amount": "1.0000"},
        {"feature": "quick_sms", "channel": "LINE B", "quantity": 1, "amount": "1.0000"},
        {"feature": "quick_sms", "channel": "LINE 官方帳號", "quantity": 4, "amount": "4.0000"},
    ]
    assert (bill.quantity, bill.amount) == (6, Decimal("6"))
    assert services.create_monthly_bill(team, datetime.date(2026, 10, 20)).pk == bill.pk
    assert MonthlyBill.objects.filter(team=team).count() == 1


def test_the_schedule_sends_on_the_3rd_in_the_team_time_zone_once(team, settings):
    team.billing_email = "billing@example.com"
    team.save()
    sms(team, "a", at=datetime.datetime(2026, 10, 15, tzinfo=TPE))
    services.send_due_monthly_bills(now=datetime.datetime(2026, 11, 2, 15, 59, tzinfo=datetime.UTC))  # 23:59 2nd
    assert not MonthlyBill.objects.exists() and mail.outbox == []
    third = datetime.datetime(2026, 11, 2, 16, 0, tzinfo=datetime.UTC)  # 00:00 on the 3rd in Taipei
    assert services.send_due_monthly_bills(now=third) == 1
    assert services.send_due_monthly_bills(now=third) == 0
    bill = MonthlyBill.objects.get(team=team)
    assert bill.month == datetime.date(2026, 10, 1) and bill.emailed_at is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["billing@example.com"] and "2026-10" in message.subject
    assert message.alternatives[0][1] == "text/html" and "quick_sms" in message.alternatives[0][0]
    name, content, mimetype = message.attachments[0]
    assert name.endswith("2026-10.csv") and mimetype == "text/csv" and "quick_sms" in content


def test_a_worker_dying_mid_send_leaves_the_bill_to_the_next_run(team):
    team.billing_email = "billing@example.com"
    team.save()
    sms(team, "a", at=datetime.datetime(2026, 10, 15, tzinfo=TPE))
    third = datetime.datetime(2026, 11, 3, 2, tzinfo=datetime.UTC)
    # The dead worker made the bill and claimed the email, then died before sending.
    bill = services.create_monthly_bill(team, datetime.date(2026, 10, 1))
    MonthlyBill.objects.filter(pk=bill.pk).update(email_claimed_at=timezone.now())
    assert services.send_due_monthly_bills(now=third) == 0  # its lease still holds: no second sender
    MonthlyBill.objects.filter(pk=bill.pk).update(email_claimed_at=timezone.now() - datetime.timedelta(minutes=16))
    assert services.send_due_monthly_bills(now=third) == 1
    assert len(mail.outbox) == 1 and MonthlyBill.objects.count() == 1


def test_the_schedule_is_created_idempotently(db):
    from django_q.models import Schedule

    from billing.tasks import SCHEDULES, ensure_schedules

    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=SCHEDULES[0][0])
    assert schedule.func == "billing.tasks.send_due_monthly_bills" and schedule.schedule_type == Schedule.HOURLY


def test_send_monthly_bills_command_resends_on_demand(team):
    team.billing_email = "billing@example.com"
    team.save()
    sms(team, "a", at=datetime.datetime(2026, 10, 15, tzinfo=TPE))
    out = StringIO()
    call_command("send_monthly_bills", "--month", "2026-10", "--team", team.slug, stdout=out)
    call_command("send_monthly_bills", "--month", "2026-10", "--team", team.slug, stdout=out)
    assert MonthlyBill.objects.count() == 1 and len(mail.outbox) == 2
    with pytest.raises(CommandError):
        call_command("send_monthly_bills", "--month", "2026-13")


# --- console -----------------------------------------------------------------------------------------------------


def test_account_overview_shows_balance_ledger_usage_and_bills(console, team):
    services.credit(team, 100, type=TransactionType.TOP_UP, idempotency_key="t")
    sms(team, "a")
    services.create_monthly_bill(team, services.previous_month(team))
    page = console.get("/billing/").content.decode()
    assert "帳戶總覽" in page and "99.00" in page and "quick_sms" in page and "儲值" in page
    assert page.count('data-testid="ledger-row"') == 2 and page.count('data-testid="bill-row"') == 1
    filtered = console.get("/billing/", {"type": "top_up"}).content.decode()
    assert filtered.count('data-testid="ledger-row"') == 1
    assert console.get("/billing/", {"date_from": "not-a-date"}).status_code == 200


def test_the_ledger_pages_by_previous_and_next_without_a_count(console, team):
    services.credit(team, 1000, type=TransactionType.TOP_UP, idempotency_key="t")
    services.debit_many(team, [{"amount": 1, "idempotency_key": f"sms:{n}"} for n in range(60)])  # 61 rows
    with CaptureQueriesContext(connection) as queries:
        first = console.get("/billing/").content.decode()
    table = Transaction._meta.db_table
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and table in q["sql"]]
    assert first.count('data-testid="ledger-row"') == 50 and "page=2" in first and "page=0" not in first
    second = console.get("/billing/", {"page": 2}).content.decode()
    assert second.count('data-testid="ledger-row"') == 11 and "page=1" in second and "page=3" not in second
    for bad in ("x", "-3", "99999999999999999999999"):
        assert console.get("/billing/", {"page": bad}).status_code == 200
    assert console.get("/billing/", {"page": 5}).content.decode().count('data-testid="ledger-row"') == 0


def test_ledger_and_sms_usage_csv(console, team):
    services.credit(team, 100, type=TransactionType.TOP_UP, idempotency_key="t")
    sms(team, "a")
    ledger = b"".join(console.get("/billing/ledger.csv", {"type": "sms_debit"}).streaming_content).decode()
    assert ledger.count("\n") == 2 and "SMS 扣款" in ledger and "-1.0000" in ledger
    usage = console.get("/billing/usage.csv", {"product": "sms"})
    assert usage["Content-Disposition"].endswith('sms-usage.csv"')
    body = b"".join(usage.streaming_content).decode()
    assert "quick_sms" in body and "LINE 官方帳號" in body
    assert console.get("/billing/usage.csv", {"month_from": "2026-13"}).status_code == 400


def test_marketers_do_not_see_billing(client, team):
    client.force_login(MembershipFactory(team=team, role="marketer").user)
    assert client.get("/billing/").status_code == 403


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_balance_contract(api, team):
    Account.objects.create(team=team, low_balance_threshold=Decimal("50"), grace_amount=Decimal("-10"))
    services.credit(team, "12.5", type=TransactionType.TOP_UP, idempotency_key="t")
    body = api.get("/api/v1/billing/balance").json()
    assert body == {
        "balance": "12.5000",
        "currency": "TWD",
        "low_balance_threshold": "50.0000",
        "grace_amount": "-10.0000",
        "blocked": False,
    }


def test_api_transactions_usage_and_bills(api, team, other_team):
    services.credit(team, 100, type=TransactionType.TOP_UP, idempotency_key="t")
    sms(team, "a")
    sms(other_team, "theirs")
    listing = api.get("/api/v1/billing/transactions").json()["results"]
    assert [row["type"] for row in listing] == ["sms_debit", "top_up"] and listing[0]["amount"] == "-1.0000"
    assert len(api.get("/api/v1/billing/transactions", {"type": "top_up"}).json()["results"]) == 1
    assert api.get("/api/v1/billing/transactions", {"type": "nope"}).status_code == 400
    usage = api.get("/api/v1/billing/usage").json()
    assert usage["currency"] == "TWD"
    assert usage["results"][0] | {"month": None} == {
        "month": None,
        "product": "sms",
        "feature": "quick_sms",
        "channel": "LINE 官方帳號",
        "quantity": 1,
        "amount": "1.0000",
    }
    csv_response = api.get("/api/v1/billing/usage", {"format": "csv", "product": "sms"})
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    assert "quick_sms" in b"".join(csv_response.streaming_content).decode()
    bad = api.get("/api/v1/billing/usage", {"month_from": "2026-99"})
    assert bad.status_code == 400 and "month_from" in bad.json()["error"]["fields"]
    services.create_monthly_bill(team, services.previous_month(team))
    bills = api.get("/api/v1/billing/bills").json()["results"]
    assert len(bills) == 1 and len(bills[0]["month"]) == 7


def test_api_billing_needs_billing_view(team):
    client = api_client_for(team, role="marketer")
    assert client.get("/api/v1/billing/balance").status_code == 403


def test_the_ledger_shows_team_local_times(console, team):
    services.credit(team, 5, type=TransactionType.TOP_UP, idempotency_key="t")
    Transaction.objects.update(created_at=datetime.datetime(2026, 10, 15, 16, 30, tzinfo=datetime.UTC))
    page = console.get("/billing/").content.decode()
    assert "2026-10-16 00:30" in page  # Asia/Taipei
    assert (
        console.get("/billing/", {"date_from": "2026-10-16", "date_to": "2026-10-16"})
        .content.decode()
        .count('data-testid="ledger-row"')
        == 1
    )
    assert console.get("/billing/", {"date_to": "2026-10-15"}).content.decode().count('data-testid="ledger-row"') == 0
