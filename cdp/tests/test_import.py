"""CSV import: mapping with preview, BOM / dialects, per-row errors with nothing half-applied, background path."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from cdp import imports
from cdp.models import AttributeValue, Contact, CustomAttribute, Customer, CustomerEvent, ImportJob, Tag
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory
from cdp.tests.test_perf import count

pytestmark = pytest.mark.django_db

UID1, UID2, UID3 = ("U" + c * 32 for c in "abc")


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", name="LINE")


@pytest.fixture
def level(team):
    return CustomAttribute.objects.create(team=team, key="level", label="等級", type="number")


def upload(console, text, channel=None, *, encoding="utf-8", name="contacts.csv"):
    data = {"file": SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")}
    if channel:
        data["channel"] = channel.pk
    response = console.post(reverse("cdp:import"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return ImportJob.objects.latest("id")


def run_mapping(console, job, targets):
    """targets: one mapping target per column, in column order."""
    data = {f"col_{i}": t for i, t in enumerate(targets)}
    return console.post(reverse("cdp:import-mapping", args=[job.pk]), data)


def test_good_file_with_bom_into_line(console, team, line, level):
    text = f'\ufeffLINE UID,姓名,Email,標籤,等級\n{UID1},王小明,A@Example.com,"VIP, 新客",3\n{UID2},林美玲,,VIP,\n'
    job = upload(console, text, line)
    page = console.get(reverse("cdp:import-mapping", args=[job.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "王小明" in html and "LINE UID" in html  # the preview, BOM stripped
    form = page.context["form"]
    assert [form[f"col_{i}"].initial for i in range(5)] == ["key", "name", "email", "tags", "attr:level"]
    response = run_mapping(console, job, ["key", "name", "email", "tags", "attr:level"])
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.total_rows, job.applied_rows, job.error_rows) == ("done", 2, 2, 0)
    contact = Contact.objects.get(team=team, channel=line, external_id=UID1)
    assert contact.source == "import" and contact.display_name == "王小明"
    assert contact.customer.email == "a@example.com"
    assert sorted(contact.customer.customer_tags.values_list("tag__name", flat=True)) == ["VIP", "新客"]
    assert AttributeValue.objects.get(customer=contact.customer, attribute=level).number_value == 3
    assert CustomerEvent.objects.filter(customer=contact.customer, type="contact_created").count() == 1
    assert CustomerEvent.objects.filter(customer=contact.customer, type="attribute_changed").count() == 1
    progress = console.get(reverse("cdp:import-job", args=[job.pk])).content.decode()
    assert "成功匯入" in progress


def test_existing_contact_is_updated_and_semicolon_dialect(console, team, line):
    existing = ContactFactory(channel=line, external_id=UID1, display_name="舊名")
    job = upload(console, f"uid;name\n{UID1};新名字\n{UID2};第二位\n", line)
    assert run_mapping(console, job, ["key", "name"]).status_code == 302
    job.refresh_from_db()
    assert job.applied_rows == 2
    assert Customer.objects.get(pk=existing.customer_id).name == "新名字"
    assert Contact.objects.filter(team=team, channel=line).count() == 2


def test_bad_rows_are_reported_and_nothing_of_them_applied(console, team, line, level):
    TagFactory(team=team, name="舊標籤").__class__.objects.filter(name="舊標籤").update(archived_at="2024-01-01T00:00Z")
    text = (
        "uid,name,level,tags,email\n"
        f"{UID1},好的一列,5,VIP,\n"
        "not-a-uid,壞UID,1,,\n"
        f"{UID2},壞數字,abc,VIP,\n"
        f"{UID3},封存標籤,2,舊標籤,\n"
        f"{UID1},重複,1,,\n"
        f"U{'d' * 32},壞Email,1,,not-an-email\n"
    )
    job = upload(console, text, line)
    run_mapping(console, job, ["key", "name", "attr:level", "tags", "email"])
    job.refresh_from_db()
    assert (job.applied_rows, job.error_rows) == (2, 4)  # row 6 repeats row 2's key: applied, with a note
    assert [e["row"] for e in job.errors] == [3, 4, 5, 6, 7]
    assert "notes" in job.errors[3] and "errors" not in job.errors[3]
    assert set(Contact.objects.filter(team=team).values_list("external_id", flat=True)) == {UID1}
    assert AttributeValue.objects.filter(team=team).count() == 1
    assert Tag.objects.get(team=team, name="VIP").customer_tags.count() == 1
    report = b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in console.get(reverse("cdp:import-errors", args=[job.pk])).streaming_content
    ).decode("utf-8")
    assert report.startswith("\ufeff列號,欄位,錯誤")
    assert "not-a-uid" in report and "abc" in report and "not-an-email" in report
    assert "說明：與第 2 列為同一聯絡人" in report


def test_a_key_repeated_in_the_file_updates_the_same_contact_in_file_order(console, team, line, level, monkeypatch):
    """24.12: a repeated key (an Excel export repeats customers) is applied row after row, like a second import;
    within a chunk and across chunks, with an informational note naming the first row."""
    monkeypatch.setattr(imports.importer, "CHUNK", 4)
    text = (
        "uid,name,tags,level\n"
        f"{UID1},王小明,VIP,3\n"
        f"{UID2},林美玲,,\n"
        f"{UID1},王大明,回購,5\n"  # same chunk as row 2
        f"{UID1},,新客,\n"  # same chunk again: a third row of the key
        f"{UID1},王老明,,4\n"  # the next chunk: simply an existing contact
    )
    job = upload(console, text, line)
    run_mapping(console, job, ["key", "name", "tags", "attr:level"])
    job.refresh_from_db()
    assert (job.status, job.applied_rows, job.error_rows) == ("done", 5, 0), job.errors
    assert [(e["row"], e["notes"]) for e in job.errors] == [
        (row, {"uid": ["與第 2 列為同一聯絡人：依檔案順序更新。"]}) for row in (4, 5, 6)
    ]
    contact = Contact.objects.get(team=team, channel=line, external_id=UID1)
    assert Contact.objects.filter(team=team, channel=line).count() == 2
    assert contact.customer.name == "王老明"
    assert sorted(contact.customer.customer_tags.values_list("tag__name", flat=True)) == ["VIP", "回購", "新客"]
    assert AttributeValue.objects.get(customer=contact.customer, attribute=level).number_value == 4
    changes = CustomerEvent.objects.filter(customer=contact.customer, type="attribute_changed").order_by("id")
    assert [(e.data["old"], e.data["new"]) for e in changes] == [(None, 3), (3, 5), (5, 4)]
    assert CustomerEvent.objects.filter(customer=contact.customer, type="contact_created").count() == 1
    page = console.get(reverse("cdp:import-job", args=[job.pk])).content.decode()
    assert 'data-testid="import-note"' in page and "與第 2 列為同一聯絡人" in page


def test_a_member_id_repeated_in_the_file_updates_the_same_customer(team):
    lines = ["member,name,email", "M1,甲,", "M2,乙,", "M1,,m1@example.com", "M1,甲甲,"]
    job = ImportJob(team=team, original_name="members.csv")
    job.file.save("members.csv", ContentFile(("\n".join(lines) + "\n").encode()), save=False)
    job.mapping = {"key_column": "member", "key_kind": "member_id", "columns": {"name": "name", "email": "email"}}
    job.save()
    imports.run(job.pk)
    job.refresh_from_db()
    assert (job.applied_rows, job.error_rows) == (4, 0), job.errors
    member = Customer.objects.get(team=team, member_id="M1")
    assert (member.name, member.email) == ("甲甲", "m1@example.com")
    assert Customer.objects.filter(team=team).count() == 2
    assert [e["row"] for e in job.errors] == [4, 5]


def test_repeated_keys_cost_one_chunk_of_statements_per_repetition(team, line, level):
    job = make_job(team, line, 10)
    lines = job.file.open("rb").read().decode().splitlines()
    job.file.close()
    job.file.save("rep.csv", ContentFile(("\n".join([*lines, lines[1], lines[2]]) + "\n").encode()), save=False)
    job.total_rows = 12
    job.save()
    sql = count(lambda: imports.run(job.pk))
    job.refresh_from_db()
    assert (job.applied_rows, job.error_rows) == (12, 0), job.errors[:3]
    assert len(sql) <= RUN_QUERIES + 2 * CHUNK_QUERIES, "\n".join(q[:150] for q in sql)


def test_whatsapp_phone_key_and_member_id_import(console, team):
    wa = ChannelFactory(team=team, kind="whatsapp")
    job = upload(console, "phone,name\n0912 345 678,阿明\n12345,壞號碼\n", wa)
    run_mapping(console, job, ["key", "name"])
    job.refresh_from_db()
    assert (job.applied_rows, job.error_rows) == (1, 1)
    contact = Contact.objects.get(team=team, channel=wa)
    assert contact.external_id == contact.phone == "+886912345678"

    job = upload(console, "會員編號,姓名,電話\nM100,會員甲,0912345678\nM200,會員乙,\n")
    assert job.channel is None
    run_mapping(console, job, ["key", "name", "phone"])
    job.refresh_from_db()
    assert job.applied_rows == 2
    member = Customer.objects.get(team=team, member_id="M100")
    assert member.is_member and member.name == "會員甲"
    # phone matching (identity rules): the WhatsApp contact's customer took the member id.
    assert Contact.objects.get(pk=contact.pk).customer.member_id == "M100"


def test_mapping_errors_and_unreadable_files(console, team, line):
    job = upload(console, f"uid,name\n{UID1},x\n", line)
    response = run_mapping(console, job, ["name", "name"])
    assert response.status_code == 400 and "請指定一個" in response.content.decode()
    job = upload(console, "uid,name\nU1,陳\n", line, encoding="big5")
    page = console.get(reverse("cdp:import-mapping", args=[job.pk]))
    assert "不是 UTF-8" in page.content.decode()
    response = console.post(reverse("cdp:import"), {"file": SimpleUploadedFile("e.csv", b"")})
    assert response.status_code == 400


def test_an_unclosed_quote_is_a_clear_file_error_not_a_500(console, team, line):
    """csv raises "field larger than field limit" once an unclosed quote swallows the rest of the file."""
    text = f'uid,name\n{UID1},ok\n{UID2},"never closed\n' + "x" * 140_000 + "\n"
    job = upload(console, text, line)
    page = console.get(reverse("cdp:import-mapping", args=[job.pk]))
    assert page.status_code == 200 and "第 3 列之後不是有效的 CSV" in page.content.decode()
    response = run_mapping(console, job, ["key", "name"])
    assert response.status_code < 500
    job.refresh_from_db()
    assert job.status != "running" and not Contact.objects.filter(team=team).exists()


@pytest.mark.parametrize(
    ("text", "row"),
    [
        (f'uid,name\n{UID1},"Amy\n{UID2},Bob\n', 2),  # issue 23.6: row 3 was swallowed into row 2's name
        (f'uid,name\n{UID1},Amy\n{UID2},"Bob\n', 3),  # the last quote of the file, never closed
        (f'uid,name\n{UID1},"Amy" Chen\n{UID2},Bob\n', 2),  # text after a closing quote
    ],
)
def test_a_quote_never_closed_stops_the_file_naming_the_row_and_writes_nothing(console, team, line, text, row):
    job = upload(console, text, line)
    page = console.get(reverse("cdp:import-mapping", args=[job.pk]))
    message = f"第 {row} 列之後不是有效的 CSV"
    assert page.status_code == 200 and message in page.content.decode()
    assert page.context["preview"].headers == []  # no mapping form to run it from

    job = imports.start(job, {"key_column": "uid", "key_kind": "external_id", "columns": {"name": "name"}})
    assert job.status == "failed" and message in job.errors[0]["errors"][""][0]
    progress = console.get(reverse("cdp:import-job", args=[job.pk])).content.decode()
    assert message in progress
    assert not Contact.objects.filter(team=team).exists() and not Customer.objects.filter(team=team).exists()


def test_a_broken_row_after_a_written_chunk_fails_the_run_before_any_row(team, line, monkeypatch):
    """The run writes chunks as it reads: start() refuses the file first, so the good chunk is not written."""
    monkeypatch.setattr(imports.importer, "CHUNK", 2)
    rows = "".join(f"U{i:032x},name {i}\n" for i in range(4))
    job = ImportJob.objects.create(team=team, channel=line, original_name="c.csv")
    job.file.save("c.csv", ContentFile(f'uid,name\n{rows}U{"f" * 32},"never closed\n'.encode()))
    job = imports.start(job, {"key_column": "uid", "key_kind": "external_id", "columns": {"name": "name"}})
    assert job.status == "failed" and "第 6 列之後不是有效的 CSV" in job.errors[0]["errors"][""][0]
    assert not Contact.objects.filter(team=team).exists()


def test_a_nul_character_fails_its_row_only(console, team, line):
    job = upload(console, f"uid,name\n{UID1},好\n{UID2},壞\x00名\n", line)
    run_mapping(console, job, ["key", "name"])
    job.refresh_from_db()
    assert (job.status, job.applied_rows, job.error_rows) == ("done", 1, 1)
    assert job.errors[0]["row"] == 3 and job.errors[0]["values"]["name"] == "壞\ufffd名"
    assert list(Contact.objects.filter(team=team).values_list("external_id", flat=True)) == [UID1]


def test_large_files_run_in_the_background_with_progress(
    console, team, line, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # run the django-q2 task inline, as a worker would
    monkeypatch.setattr(imports.importer, "BACKGROUND_ROWS", 5)
    monkeypatch.setattr(imports.importer, "CHUNK", 4)
    calls = []
    from django_q import tasks

    real = tasks.async_task
    monkeypatch.setattr(tasks, "async_task", lambda *a, **k: calls.append(a) or real(*a, **k))
    rows = "".join(f"U{i:032x},n{i}\n" for i in range(11))
    job = upload(console, "uid,name\n" + rows, line)
    with django_capture_on_commit_callbacks(execute=True):
        run_mapping(console, job, ["key", "name"])
    assert calls and calls[0][0] == "cdp.tasks.run_import"
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.applied_rows) == ("done", 11, 11)
    page = console.get(reverse("cdp:import-job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in page and "100%" in page
    imports.run(job.pk)  # a redelivered task changes nothing
    assert Contact.objects.filter(team=team).count() == 11


def test_other_teams_import_jobs_are_404(console, other_team):
    job = ImportJob.objects.create(team=other_team, file="imports/x.csv")
    for name in ("cdp:import-mapping", "cdp:import-job", "cdp:import-errors"):
        assert console.get(reverse(name, args=[job.pk])).status_code == 404


def make_job(team, channel, rows, *, start=0, mapping=None):
    """An import job over `rows` generated LINE rows (uid, name, email, tags, level), ready for imports.run."""
    lines = ["uid,name,email,tags,level"]
    for i in range(start, start + rows):
        lines.append(f'U{i:032x},顧客{i},user{i}@example.com,"VIP,{"新客" if i % 2 else "回購客"}",{i % 5}')
    job = ImportJob(team=team, channel=channel, original_name="perf.csv")
    job.file.save("perf.csv", ContentFile(("\n".join(lines) + "\n").encode()), save=False)
    job.mapping = mapping or {
        "key_column": "uid",
        "key_kind": "external_id",
        "columns": {"name": "name", "email": "email", "tags": "tags", "level": "attr:level"},
    }
    job.total_rows = rows
    job.save()
    return job


# Per chunk: savepoint, contacts lookup, INSERT customers, contacts, tag links, attribute values, timeline events,
# their hand-off rows for the consumers, progress, release (existing contacts swap the two first INSERTs for the
# customers and values lookups).
CHUNK_QUERIES = 10
# Per run: claim, load the job, attribute definitions, archived tags, tags (create + read), finish, reload; on
# PostgreSQL the EXPLAIN that chooses the contacts lookup (once here: statistics refresh only outside a transaction).
RUN_QUERIES = 8 + (connection.vendor == "postgresql")


def test_a_chunk_costs_a_fixed_number_of_queries_whatever_its_size(team, line, level, monkeypatch):
    def queries(rows, start):
        job = make_job(team, line, rows, start=start)
        sql = count(lambda: imports.run(job.pk))
        job.refresh_from_db()
        assert (job.applied_rows, job.error_rows) == (rows, 0), job.errors[:3]
        return sql

    def show(sql):
        return "\n".join(q[:150] for q in sql)

    small, large = queries(10, 0), queries(200, 1000)
    assert len(small) <= RUN_QUERIES + CHUNK_QUERIES, show(small)
    again = queries(10, 0)  # existing contacts: lookups and updates, still per chunk
    assert len(again) <= RUN_QUERIES + CHUNK_QUERIES, show(again)
    monkeypatch.setattr(imports.importer, "CHUNK", 50)
    chunked = queries(200, 2000)
    if connection.vendor == "postgresql":  # SQLite splits multi-row INSERTs at 999 parameters
        assert len(large) == len(small), show(large)
        assert len(chunked) <= RUN_QUERIES + 4 * CHUNK_QUERIES, show(chunked)
    assert CustomerEvent.objects.filter(team=team, type="contact_created").count() == 410
    assert CustomerEvent.objects.filter(team=team, type="tag_added").count() == 2 * 410


def test_a_chunk_the_database_refuses_is_replayed_row_by_row(team, line, level, monkeypatch):
    """A contact created after the chunk's lookup (a webhook, say) fails only its own row, whole."""
    ContactFactory(team=team, channel=line, external_id=f"U{1:032x}")
    monkeypatch.setattr(imports.Importer, "_existing_contacts", lambda self, keys: {})
    customers = Customer.objects.filter(team=team).count()
    job = make_job(team, line, 3)
    imports.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.applied_rows, job.error_rows) == ("done", 3, 2, 1)
    assert [e["row"] for e in job.errors] == [3]
    assert Customer.objects.filter(team=team).count() == customers + 2  # nothing of the refused row
    assert AttributeValue.objects.filter(team=team).count() == 2
    assert CustomerEvent.objects.filter(team=team, type="contact_created").count() == 2


MEMBER_ROWS = [
    # (member id, name, phone, email)
    ("M1", "甲", "0911000001", ""),  # takes the phone-matched customer without a member id
    ("M2", "乙", "0911000002", ""),  # that phone's customer holds another member id: a new customer
    ("M3", "丙", "", "c@example.com"),  # email matching
    ("M4", "丁", "0911000004", ""),  # new, and the next row shares its phone
    ("M6", "戊", "0911000004", ""),  # M4's new customer holds M4: another new customer
    ("M5", "己", "", "m5@example.com"),  # an existing member: updated
    ("M7", "庚", "", ""),  # new, nothing to match
]


def _member_start(team):
    """The same starting customers in any team."""
    from cdp.tests.factories import CustomerFactory

    CustomerFactory(team=team, name="a", phone="+886911000001")
    CustomerFactory(team=team, name="b", phone="+886911000002", member_id="M9", is_member=True)
    CustomerFactory(team=team, name="c", email="c@example.com")
    CustomerFactory(team=team, name="舊名", member_id="M5", is_member=True)


def _customers_and_events(team):
    customers = sorted(
        Customer.objects.filter(team=team, merged_into=None).values_list(
            "member_id", "name", "phone", "email", "is_member"
        ),
        key=str,
    )
    events = sorted(
        CustomerEvent.objects.filter(team=team, type__startswith="member_").values_list("customer__member_id", "type")
    )
    return customers, events


def test_member_rows_resolve_as_identify_member_does_row_by_row(team, other_team):
    from cdp.services import identity

    _member_start(team)
    _member_start(other_team)
    for member_id, name, phone, email in MEMBER_ROWS:  # the reference: the service, one member at a time
        if member_id != "M5":
            identity.identify_member(
                team=other_team, member_id=member_id, name=name, phone=phone, email=email, source="import"
            )
    Customer.objects.filter(team=other_team, member_id="M5").update(name="己", email="m5@example.com")

    lines = ["member,name,phone,email", *(",".join(row) for row in MEMBER_ROWS)]
    job = ImportJob(team=team, original_name="members.csv")
    job.file.save("members.csv", ContentFile(("\n".join(lines) + "\n").encode()), save=False)
    job.mapping = {
        "key_column": "member",
        "key_kind": "member_id",
        "columns": {"name": "name", "phone": "phone", "email": "email"},
    }
    job.save()
    imports.run(job.pk)
    job.refresh_from_db()
    assert (job.applied_rows, job.error_rows) == (len(MEMBER_ROWS), 0), job.errors
    imported, reference = _customers_and_events(team), _customers_and_events(other_team)
    assert imported == reference
    members = {row[0]: row for row in imported[0]}
    assert members["M1"][2] == "+886911000001" and members["M9"][2] == members["M2"][2] == "+886911000002"
    assert members["M4"][2] == members["M6"][2] and members["M5"][1:4] == ("己", "", "m5@example.com")


def test_member_chunks_cost_a_fixed_number_of_queries_whatever_the_new_members(team):
    def queries(first, rows):
        lines = ["member,phone"] + [f"N{i},0922{i:06d}" for i in range(first, first + rows)]
        job = ImportJob(team=team, original_name="m.csv")
        job.file.save("m.csv", ContentFile(("\n".join(lines) + "\n").encode()), save=False)
        job.mapping = {"key_column": "member", "key_kind": "member_id", "columns": {"phone": "phone"}}
        job.save()
        sql = count(lambda: imports.run(job.pk))
        job.refresh_from_db()
        assert (job.applied_rows, job.error_rows) == (rows, 0), job.errors[:3]
        return sql

    small, large = queries(0, 5), queries(100, 200)
    if connection.vendor == "postgresql":  # SQLite splits multi-row INSERTs at 999 parameters
        assert len(large) == len(small), "\n".join(q[:150] for q in large)
    assert Customer.objects.filter(team=team, member_id__startswith="N", is_member=True).count() == 205
    assert CustomerEvent.objects.filter(team=team, type="member_registered").count() == 205


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (planner statistics)")
@pytest.mark.django_db(transaction=True)
def test_a_growing_import_refreshes_the_planner_statistics_of_its_team(team, line, level, monkeypatch):
    """A team the statistics do not know is estimated at ~1 row, and every chunk's lookups then scan the team."""
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(imports.importer, "CHUNK", 50)
    job = make_job(team, line, 520)
    with CaptureQueriesContext(connection) as captured:
        imports.run(job.pk)
    analyzed = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("ANALYZE")]
    assert analyzed == ["ANALYZE cdp_contact (team_id, channel_id)"] * 2  # at 50 and 500 rows
    # the contacts lookup is chosen from the plan at the start and again after each refresh
    assert sum(q["sql"].startswith("EXPLAIN") for q in captured.captured_queries) == 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'cdp_contact' AND attname = 'team_id'"
        )
        assert str(team.pk) in cursor.fetchone()[0]
    assert Contact.objects.filter(team=team).count() == 520
    # the lookup finds them all again: a re-import updates, creating nothing, and grows nothing to re-analyze
    job = make_job(team, line, 520)
    with CaptureQueriesContext(connection) as captured:
        imports.run(job.pk)
    assert not [q for q in captured.captured_queries if q["sql"].startswith("ANALYZE")]
    assert Contact.objects.filter(team=team).count() == 520 and Customer.objects.filter(team=team).count() == 520


def test_an_import_whose_worker_died_is_resumed_after_its_last_committed_chunk(team, line, level, monkeypatch):
    """Issue 23: the job row is the work. A worker killed mid-import leaves a running job with committed chunks;
    the per-minute backstop sees no heartbeat for STALE_AFTER and carries on from the next row, once."""
    from datetime import timedelta

    from django.utils import timezone

    monkeypatch.setattr(imports.importer, "CHUNK", 50)
    job = make_job(team, line, 200)
    real_chunk = imports.Importer.chunk
    calls = {"n": 0}

    def dying(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")  # after two committed chunks
        return real_chunk(self, *args)

    monkeypatch.setattr(imports.Importer, "chunk", dying)
    with pytest.raises(SystemExit):
        imports.run(job.pk)
    monkeypatch.setattr(imports.Importer, "chunk", real_chunk)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.applied_rows) == ("running", 100, 100)
    assert imports.resume_stalled() == []  # its heartbeat is fresh: maybe only slow
    later = timezone.now() + imports.STALE_AFTER + timedelta(seconds=1)
    enqueued = []
    monkeypatch.setattr(imports.importer.queues, "enqueue", lambda func, *args, **kw: enqueued.append((func, args)))
    assert imports.resume_stalled(now=later) == [job.pk]
    assert enqueued == [("cdp.tasks.resume_import", (job.pk,))]
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - imports.STALE_AFTER * 2)
    imports.run(job.pk, resume=True)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.applied_rows, job.error_rows) == ("done", 200, 200, 0)
    assert Contact.objects.filter(team=team, channel=line).count() == 200
    assert CustomerEvent.objects.filter(team=team, type="contact_created").count() == 200  # none twice
    assert imports.run(job.pk, resume=True).status == "done"  # a second resume finds nothing to take


def test_a_background_import_whose_start_task_was_lost_is_started_by_the_backstop(team, line, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    job = make_job(team, line, imports.BACKGROUND_ROWS + 1)
    enqueued = []
    monkeypatch.setattr(imports.importer.queues, "enqueue", lambda func, *args, **kw: enqueued.append((func, args)))
    assert imports.resume_stalled() == []
    later = timezone.now() + imports.LOST_START_AFTER + timedelta(seconds=1)
    assert imports.resume_stalled(now=later) == [job.pk]
    assert enqueued == [("cdp.tasks.run_import", (job.pk,))]


def test_row_errors_are_stored_in_the_source_language_and_shown_in_the_readers(console, team, line, level):
    """Issue 20.14: an import run from an English page stores its messages as msgids; the job page and the error
    report show them in the reader's language, parameters kept."""
    TagFactory(team=team, name="舊標籤").__class__.objects.filter(name="舊標籤").update(archived_at="2024-01-01T00:00Z")
    text = (
        f"uid,name,level,tags,email\nnot-a-uid,x,1,,\n{UID1},y,1,,bad@\n{UID2},z,1,舊標籤,\n"
        f"{UID3},w,1,,\n{UID3},w2,1,,\n"
    )
    console.cookies["django_language"] = "en"
    english = {"HTTP_ACCEPT_LANGUAGE": "en"}
    job = upload(console, text, line)
    console.post(
        reverse("cdp:import-mapping", args=[job.pk]),
        {f"col_{i}": t for i, t in enumerate(["key", "name", "attr:level", "tags", "email"])},
        **english,
    )
    job.refresh_from_db()
    stored = [m for entry in job.errors for messages in entry.get("errors", {}).values() for m in messages]
    assert "不是有效的 Email：bad@" in stored  # the source language, whatever page started the import
    page = console.get(reverse("cdp:import-job", args=[job.pk]), **english).content.decode()
    assert "Not a valid LINE UID (U followed by 32 hex digits): not-a-uid" in page
    assert "Not a valid email: bad@" in page and "不是有效的" not in page
    assert "Same contact as row 5: updated in file order." in page
    report = b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in console.get(reverse("cdp:import-errors", args=[job.pk]), **english).streaming_content
    ).decode("utf-8")
    assert report.startswith("\ufeffRow,") and "Not a valid email: bad@" in report and "不是有效的" not in report
    console.cookies["django_language"] = "zh-hant"
    zh = console.get(reverse("cdp:import-job", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "不是有效的 Email：bad@" in zh
