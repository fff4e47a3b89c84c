"""Points import (社群點數) through the CSV import pipeline: one ledger row per good row, bad rows reported and
changing nothing, a job run again changing nothing twice, and one team's file never reaching another's customers."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from django.db.models import Sum
from django.urls import reverse

from cdp import imports
from cdp.imports.points import PointsImporter
from cdp.models import Customer, ImportJob, ImportStatus, PointsSource, PointsTransaction
from cdp.services.points import adjust_points
from cdp.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

FILE = (
    "會員編號,電話,點數,原因\n"
    "M1,,100,welcome\n"  # 2: in
    "M2,,-20,redeem\n"  # 3: in (50 → 30)
    ",0912 345 678,30,by phone\n"  # 4: in, the customer found by phone
    "M404,,10,unknown\n"  # 5: no such customer
    "M1,,1.5,fraction\n"  # 6: not an integer
    "M1,,0,zero\n"  # 7: zero
    "M2,,-100,overdraft\n"  # 8: 30 - 100 < 0
    ",,5,nobody\n"  # 9: no reference at all
    "M1,,-40,spent\n"  # 10: in (100 → 60)
)


@pytest.fixture
def customers(team):
    m1 = CustomerFactory(team=team, member_id="M1")
    m2 = CustomerFactory(team=team, member_id="M2")
    adjust_points(customer=m2, delta=50, reason="start", source=PointsSource.API)
    by_phone = CustomerFactory(team=team, phone="+886912345678")
    return m1, m2, by_phone


def upload(console, text, **data):
    data = {"kind": "points", "file": SimpleUploadedFile("points.csv", text.encode(), "text/csv"), **data}
    response = console.post(reverse("cdp:import"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return ImportJob.objects.latest("id")


def run_mapping(console, job, targets):
    data = {f"col_{i}": t for i, t in enumerate(targets)}
    response = console.post(reverse("cdp:import-mapping", args=[job.pk]), data)
    job.refresh_from_db()
    return response


def balances(*customers):
    return [Customer.objects.get(pk=c.pk).points_balance for c in customers]


def ledger_adds_up(customer):
    customer.refresh_from_db()
    total = PointsTransaction.objects.filter(customer=customer).aggregate(total=Sum("delta"))["total"] or 0
    return customer.points_balance == total


def test_good_rows_go_in_and_bad_rows_are_reported_changing_nothing(console, team, customers):
    m1, m2, by_phone = customers
    job = upload(console, FILE)
    assert job.kind == "points" and job.channel is None
    page = console.get(reverse("cdp:import-mapping", args=[job.pk])).content.decode()
    assert 'value="member_id" selected' in page and 'value="points" selected' in page  # guessed from the headers
    response = run_mapping(console, job, ["member_id", "phone", "points", "reason"])
    assert response.status_code == 302
    assert job.mapping == {
        "key_column": "會員編號",
        "key_kind": "member_id",
        "columns": {"電話": "phone", "點數": "points", "原因": "reason"},
    }
    assert (job.status, job.processed_rows, job.applied_rows, job.error_rows) == ("done", 9, 4, 5)
    assert balances(m1, m2, by_phone) == [60, 30, 30]
    assert all(ledger_adds_up(c) for c in customers)
    assert Customer.objects.get(pk=m1.pk).points_accumulated == 100
    rows = PointsTransaction.objects.filter(source=PointsSource.IMPORT).order_by("id")
    assert [(r.customer_id, r.delta, r.reason, r.idempotency_key) for r in rows] == [
        (m1.pk, 100, "welcome", f"import:{job.pk}:2"),
        (m1.pk, -40, "spent", f"import:{job.pk}:10"),
        (m2.pk, -20, "redeem", f"import:{job.pk}:3"),
        (by_phone.pk, 30, "by phone", f"import:{job.pk}:4"),
    ]  # in customer id order, each customer's rows in file order
    assert [(e["row"], list(e["errors"])) for e in job.errors] == [
        (5, ["會員編號"]),
        (6, ["點數"]),
        (7, ["點數"]),
        (8, ["點數"]),
        (9, ["會員編號"]),
    ]
    messages = {e["row"]: " ".join(*e["errors"].values()) for e in job.errors}
    assert "找不到這位顧客" in messages[5]
    assert "整數" in messages[6] and "非零" in messages[7] and "點數不足" in messages[8]

    report = console.get(reverse("cdp:import-errors", args=[job.pk]))
    lines = b"".join(report.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "列號,欄位,錯誤,會員編號,電話,點數,原因"
    assert [line.split(",")[0] for line in lines[1:]] == ["5", "6", "7", "8", "9"]
    assert lines[4].startswith("8,點數,點數不足：餘額 30，欲扣除 100。,M2,,-100,overdraft")

    progress = console.get(reverse("cdp:import-job", args=[job.pk])).content.decode()
    assert "社群點數" in progress and 'data-testid="error-report"' in progress


def test_a_team_allowing_negative_balances_takes_the_overdraft(console, team, customers):
    team.points_allow_negative = True
    team.save(update_fields=["points_allow_negative"])
    job = upload(console, "member_id,points\nM2,-100\n")
    run_mapping(console, job, ["member_id", "points"])
    assert (job.applied_rows, job.error_rows) == (1, 0)
    assert balances(customers[1]) == [-50]


def test_the_same_job_run_again_changes_nothing_twice(console, team, customers):
    m1, m2, by_phone = customers
    job = upload(console, FILE)
    run_mapping(console, job, ["member_id", "phone", "points", "reason"])
    ledger = PointsTransaction.objects.count()
    assert imports.run(job.pk).status == ImportStatus.DONE  # a redelivered task finds the job claimed
    # A retried job from its start (a worker that died before its progress committed): every good row replays.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.PENDING, processed_rows=0, applied_rows=0, error_rows=0, errors=[]
    )
    job = imports.run(job.pk)
    assert (job.status, job.applied_rows, job.error_rows) == ("done", 4, 5)
    assert PointsTransaction.objects.count() == ledger
    assert balances(m1, m2, by_phone) == [60, 30, 30]
    assert Customer.objects.get(pk=m1.pk).points_accumulated == 100


def test_a_chunk_the_database_refuses_is_applied_row_by_row_and_reported_once(console, team, customers, monkeypatch):
    m1, m2, by_phone = customers
    save_progress = PointsImporter.save_progress
    calls = []

    def refusing_once(self, processed, applied):
        calls.append(processed)
        if len(calls) == 1:
            raise DatabaseError("deadlock detected")
        return save_progress(self, processed, applied)

    monkeypatch.setattr(PointsImporter, "save_progress", refusing_once)
    job = upload(console, FILE)
    run_mapping(console, job, ["member_id", "phone", "points", "reason"])
    assert (job.status, job.applied_rows, job.error_rows) == ("done", 4, 5)
    assert [e["row"] for e in job.errors] == [5, 6, 7, 8, 9]
    assert balances(m1, m2, by_phone) == [60, 30, 30]
    assert PointsTransaction.objects.filter(source=PointsSource.IMPORT).count() == 4


def test_phone_or_email_as_the_only_reference(console, team, customers):
    """Identity's rules: a phone or email without a member id names only a customer without a member id."""
    by_email = CustomerFactory(team=team, email="ann@example.com")
    member = CustomerFactory(team=team, member_id="M9", email="m9@example.com")
    job = upload(console, "email,points,reason\nANN@example.com,7,\nnot-an-email,7,\nm9@example.com,7,\n")
    run_mapping(console, job, ["email", "points", "reason"])
    assert (job.mapping["key_kind"], job.applied_rows, job.error_rows) == ("email", 1, 2)
    assert balances(by_email, member) == [7, 0]
    assert job.errors[0]["row"] == 3 and "Email" in job.errors[0]["errors"]["email"][0]
    assert job.errors[1]["row"] == 4 and job.errors[1]["errors"]["email"] == ["找不到這位顧客。"]
    team.match_by_email = False
    team.save(update_fields=["match_by_email"])
    job = upload(console, "email,points\nann@example.com,1\n")
    run_mapping(console, job, ["email", "points"])
    assert (job.applied_rows, job.error_rows) == (0, 1)  # the team does not match customers by email


def test_another_teams_file_never_touches_this_teams_customers(client, team, other_team, customers):
    from tests.factories import MembershipFactory

    m1 = customers[0]
    theirs = CustomerFactory(team=other_team, member_id="M2")
    client.force_login(MembershipFactory(team=other_team, role="owner").user)
    job = upload(client, "member_id,phone,points\nM1,,10\n,0912345678,10\nM2,,10\n")
    assert job.team == other_team
    run_mapping(client, job, ["member_id", "phone", "points"])
    assert (job.applied_rows, job.error_rows) == (1, 2)  # team A's member id and phone are unknown in team B
    assert balances(theirs) == [10]
    assert balances(*customers) == [0, 50, 0]
    assert not PointsTransaction.objects.filter(team=team, source=PointsSource.IMPORT).exists()
    assert not PointsTransaction.objects.filter(customer=m1).exists()


def test_the_360_page_shows_the_import_as_the_source(console, team, customers):
    job = upload(console, "member_id,points,reason\nM1,25,春季活動\n")
    run_mapping(console, job, ["member_id", "points", "reason"])
    page = console.get(reverse("cdp:customer", args=[customers[0].pk])).content.decode()
    card = re.search(r'data-testid="points-card".*?</section>', page, re.S).group(0)
    assert "<td>匯入</td>" in card and "春季活動" in card and "+25" in card


def test_bad_uploads_and_mappings_are_form_errors(console, team, customers):
    from cdp.tests.factories import ChannelFactory

    line = ChannelFactory(team=team, kind="line")
    data = {"kind": "points", "channel": line.pk, "file": SimpleUploadedFile("p.csv", b"member_id,points\nM1,1\n")}
    response = console.post(reverse("cdp:import"), data)
    assert response.status_code == 400 and "請勿選擇渠道" in response.content.decode()
    job = upload(console, "member_id,points,note\nM1,5,x\n")
    for targets, message in (
        (["", "points", "reason"], "請指定對應顧客的欄位"),
        (["member_id", "", "reason"], "請指定「點數」欄位"),
        (["member_id", "points", "points"], "同一個目標只能對應一個欄位"),
    ):
        response = run_mapping(console, job, targets)
        assert response.status_code == 400 and message in response.content.decode()
    assert job.status == "pending" and not PointsTransaction.objects.filter(source=PointsSource.IMPORT).exists()
    response = run_mapping(console, job, ["member_id", "points", ""])
    assert job.mapping["columns"] == {"points": "points"} and balances(customers[0]) == [5]


def test_the_import_page_documents_both_kinds_in_both_languages(console):
    page = console.get(reverse("cdp:import")).content.decode()
    assert 'name="kind" value="points"' in page and "社群點數" in page and "顧客資料" in page
    assert 'data-testid="format-points"' in page and "非零整數" in page
    console.cookies["django_language"] = "en"
    page = console.get(reverse("cdp:import"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Social points" in page and "Customers" in page and "a non-zero integer, positive adds" in page
    points_format = re.search(r'data-testid="format-points">(.*?)</ul>', page, re.S).group(1)
    assert not re.search(r"[\u3400-\u9fff]", points_format)


def test_larger_points_files_run_in_the_background_in_chunks(
    console, team, customers, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q import tasks
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # run the django-q2 task inline, as a worker would
    monkeypatch.setattr(imports.importer, "POINTS_BACKGROUND_ROWS", 3)
    monkeypatch.setattr("cdp.imports.points.POINTS_CHUNK", 2)
    calls = []
    real = tasks.async_task
    monkeypatch.setattr(tasks, "async_task", lambda *a, **k: calls.append(a) or real(*a, **k))
    job = upload(console, FILE)
    with django_capture_on_commit_callbacks(execute=True):
        run_mapping(console, job, ["member_id", "phone", "points", "reason"])
    assert calls and calls[0][0] == "cdp.tasks.run_import"
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.applied_rows, job.error_rows) == ("done", 9, 4, 5)
    assert [e["row"] for e in job.errors] == [5, 6, 7, 8, 9]
    assert balances(*customers) == [60, 30, 30]


def test_a_lost_points_job_is_started_by_the_backstop(team, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    def pending(kind, rows):
        return ImportJob.objects.create(team=team, kind=kind, file="imports/x.csv", total_rows=rows)

    points_job = pending("points", imports.POINTS_BACKGROUND_ROWS + 1)
    pending("points", imports.POINTS_BACKGROUND_ROWS)  # ran in its request
    pending("customers", imports.POINTS_BACKGROUND_ROWS + 1)  # likewise, below the customers' threshold
    enqueued = []
    monkeypatch.setattr(imports.importer.queues, "enqueue", lambda func, *args, **kw: enqueued.append((func, args)))
    later = timezone.now() + imports.LOST_START_AFTER + timedelta(seconds=1)
    assert imports.resume_stalled(now=later) == [points_job.pk]
    assert enqueued == [("cdp.tasks.run_import", (points_job.pk,))]


def test_a_row_the_database_refuses_twice_is_reported_in_words_not_the_database_error(
    console, team, customers, monkeypatch
):
    def refusing(self, customer, row):
        raise DatabaseError("deadlock detected\nDETAIL: Process 4242 waits for ShareLock")

    monkeypatch.setattr(PointsImporter, "change", refusing)
    job = upload(console, FILE)
    run_mapping(console, job, ["member_id", "phone", "points", "reason"])
    messages = [m for e in job.errors for ms in e["errors"].values() for m in ms]
    assert messages and not any("deadlock" in m or "Process" in m for m in messages)
    assert "資料庫暫時無法寫入這一列，請重新匯入這一列。" in messages
    assert not PointsTransaction.objects.filter(source=PointsSource.IMPORT).exists()
