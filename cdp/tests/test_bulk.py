"""The customer list's sort orders and bulk actions (issue 20.16): add / remove a tag on the checked customers or on
every customer matching the filter, export the checked ones; team-scoped, bad input is a clear 400."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Handoff
from cdp import filters
from cdp.models import Customer, CustomerEvent, CustomerTag, EventType, Tag
from cdp.services import tags
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerFactory, CustomerTagFactory, TagFactory
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def tagged(team, name):
    return set(CustomerTag.objects.filter(team=team, tag__name=name).values_list("customer__name", flat=True))


@pytest.fixture
def people(team):
    line = ChannelFactory(team=team, kind="line")
    return [ContactFactory(channel=line, display_name=f"p{i}").customer for i in range(4)]


# ------------------------------------------------------------------------------------------------ services


def test_add_and_remove_tags_bulk_by_ids_and_queryset(team, other_team, people):
    stranger = CustomerFactory(team=other_team, name="stranger")
    a, b, c, _d = people
    CustomerTagFactory(customer=a, tag=TagFactory(team=team, name="VIP"))
    added = tags.add_tags_bulk(team=team, customer_ids=[a.pk, b.pk, b.pk], names=["VIP"], source="console")
    assert added == 1 and tagged(team, "VIP") == {"p0", "p1"}

    # A queryset is streamed in chunks; only the rows actually removed get an event.
    monkey_chunk = tags.BULK_CHUNK
    tags.BULK_CHUNK = 2
    try:
        removed = tags.remove_tags_bulk(
            team=team, customer_ids=Customer.objects.for_team(team), names=["VIP", "unknown"], source="console"
        )
    finally:
        tags.BULK_CHUNK = monkey_chunk
    assert removed == 2 and tagged(team, "VIP") == set()
    events = CustomerEvent.objects.filter(team=team, type=EventType.TAG_REMOVED)
    assert sorted(events.values_list("customer_id", flat=True)) == sorted([a.pk, b.pk])
    assert {e.data["source"] for e in events} == {"console"}

    # Another team's customer id never gains or loses this team's tag.
    CustomerTagFactory(customer=stranger, tag=TagFactory(team=other_team, name="VIP"))
    assert tags.remove_tags_bulk(team=team, customer_ids=[stranger.pk, c.pk], names=["VIP"], source="console") == 0
    assert tagged(other_team, "VIP") == {"stranger"}
    assert tags.remove_tags_bulk(team=team, customer_ids=[a.pk], names=[], source="console") == 0


def test_sort_orders_page_through_every_customer_once(team, people):
    now = timezone.now()
    for i, customer in enumerate(people):
        # p0 newest; p1 and p3 interacted (p3 most recently); p0 and p2 never did.
        Customer.objects.filter(pk=customer.pk).update(
            created_at=now - timedelta(minutes=i),
            last_customer_interaction_at={1: now - timedelta(hours=2), 3: now - timedelta(hours=1)}.get(i),
        )
    qs = Customer.objects.for_team(team)

    def walk(sort):
        seen, cursor = [], None
        while True:
            rows, cursor = filters.keyset_page(qs, cursor, size=1, sort=sort)
            seen += [c.name for c in rows]
            if not cursor:
                return seen

    assert walk("newest") == ["p0", "p1", "p2", "p3"]
    assert walk("oldest") == ["p3", "p2", "p1", "p0"]
    assert walk("last_interaction") == ["p3", "p1", "p2", "p0"]  # then never, newest id first


# ------------------------------------------------------------------------------------------------ views


def test_sort_is_a_visible_choice(console, team, people):
    Customer.objects.filter(pk=people[0].pk).update(created_at=timezone.now() - timedelta(days=1))
    html = console.get(reverse("cdp:index")).content.decode()
    assert 'name="sort"' in html and "建立時間：由舊到新" in html
    response = console.get(reverse("cdp:index"), {"sort": "oldest"})
    assert [row["customer"].name for row in response.context["rows"]][0] == "p0"
    english = console.get(reverse("cdp:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Created: oldest first" in english and "Last interaction: most recent first" in english


def test_bulk_tag_selected_then_untag_all_matching(console, team, people):
    a, b, c, d = people
    url = reverse("cdp:bulk")
    data = {"action": "add_tag", "tag_name": "春季活動", "scope": "selected", "ids": [a.pk, b.pk]}
    response = console.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "customers-changed" in response["HX-Trigger"]
    assert "已為 2 位顧客新增標籤「春季活動」" in response.content.decode()
    assert tagged(team, "春季活動") == {"p0", "p1"}

    # Every customer matching the filter (tag = 春季活動 here) loses it; c and d are untouched.
    CustomerTagFactory(customer=c, tag=TagFactory(team=team, name="other"))
    spring = Tag.objects.get(team=team, name="春季活動")
    response = console.post(url, {"action": "remove_tag", "tag_name": "春季活動", "scope": "filter", "tag": spring.pk})
    assert response.status_code == 200 and tagged(team, "春季活動") == set()
    assert tagged(team, "other") == {"p2"}

    # All matching an empty filter: everyone.
    console.post(url, {"action": "add_tag", "tag_name": "全部", "scope": "filter"})
    assert tagged(team, "全部") == {"p0", "p1", "p2", "p3"}
    assert Customer.objects.filter(pk=d.pk).exists()


@pytest.mark.parametrize(
    "data, words",
    [
        ({"action": "add_tag", "tag_name": "", "scope": "selected", "ids": ["1"]}, "請輸入標籤名稱"),
        ({"action": "explode", "tag_name": "x", "scope": "selected", "ids": ["1"]}, "請選擇批次動作"),
        ({"action": "add_tag", "tag_name": "x", "scope": "selected"}, "請先勾選顧客"),
        ({"action": "add_tag", "tag_name": "x", "scope": "selected", "ids": ["abc"]}, "選取的顧客有誤"),
        ({"action": "add_tag", "tag_name": "x", "scope": "sideways"}, "請選擇套用範圍"),
        ({"action": "add_tag", "tag_name": "x", "scope": "filter", "status": "nope"}, "篩選條件有誤"),
        ({"action": "add_tag", "tag_name": "x" * 101, "scope": "filter"}, "標籤最多 100 個字元"),
    ],
)
def test_bulk_bad_input_is_a_clear_400_and_changes_nothing(console, team, people, data, words):
    response = console.post(reverse("cdp:bulk"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert words in response.content.decode() and 'data-testid="bulk-error"' in response.content.decode()
    assert not CustomerTag.objects.filter(team=team).exists()


def test_archived_tag_is_refused(console, team, people):
    TagFactory(team=team, name="舊", archived_at=timezone.now())
    response = console.post(reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "舊", "scope": "filter"})
    assert response.status_code == 400 and "標籤已封存" in response.content.decode()


def test_team_b_cannot_tag_or_export_team_a_customers_by_id(client, team, other_team, people):
    client.force_login(MembershipFactory(team=other_team, role="owner").user)
    mine = ContactFactory(channel=ChannelFactory(team=other_team, kind="line"), display_name="b-own").customer
    ids = [people[0].pk, people[1].pk]
    for action in ("add_tag", "remove_tag"):
        response = client.post(
            reverse("cdp:bulk"), {"action": action, "tag_name": "hack", "scope": "selected", "ids": [*ids, mine.pk]}
        )
        assert response.status_code == 400 and "找不到部分選取的顧客" in response.content.decode()
    assert not CustomerTag.objects.exists()
    # All matching: team B's own customers only.
    client.post(reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "b", "scope": "filter"})
    assert tagged(other_team, "b") == {"b-own"} and tagged(team, "b") == set()
    export = client.get(reverse("cdp:export"), {"scope": "selected", "ids": ids})
    assert export.status_code == 400


def test_viewer_cannot_bulk_tag(client, team, people):
    client.force_login(MembershipFactory(team=team, role="viewer").user)
    response = client.post(reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "x", "scope": "filter"})
    assert response.status_code == 403 and not CustomerTag.objects.exists()


def test_export_the_selected_customers(console, team, people):
    a, b, _c, _d = people
    response = console.get(reverse("cdp:export"), {"scope": "selected", "ids": [a.pk, b.pk], "fields": ["name"]})
    assert response.status_code == 200
    body = b"".join(c if isinstance(c, bytes) else c.encode() for c in response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body[1:])))
    assert sorted(row["姓名"] for row in rows) == ["p0", "p1"]
    bad = console.get(reverse("cdp:export"), {"scope": "selected"})
    assert bad.status_code == 400 and "請先勾選顧客" in bad.content.decode()


def test_the_tag_source_is_shown_in_words(console, team, people):
    """Issue 20.14: who applied a tag (a stored code) is shown in the reader's language."""
    console.post(
        reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "春季", "scope": "selected", "ids": [people[0].pk]}
    )
    url = reverse("cdp:customer", args=[people[0].pk])
    assert 'title="後台' in console.get(url).content.decode()
    english = console.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'title="Console' in english and 'title="console' not in english


def test_tagging_very_many_matching_customers_runs_in_the_background(
    console, team, people, monkeypatch, django_capture_on_commit_callbacks
):
    """Beyond BULK_IN_REQUEST matches the request writes a "bulk_tags" hand-off row with the list's filters and hints
    its drain (run inline by the test cluster), which applies the filters again and deletes the row."""
    from django_q.conf import Conf

    monkeypatch.setattr("cdp.views.BULK_IN_REQUEST", 2)
    monkeypatch.setattr(Conf, "SYNC", True)  # run the django-q2 task inline, as a worker would
    with django_capture_on_commit_callbacks(execute=True):  # the commit's hint wakes the drain (inline here)
        response = console.post(reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "大量", "scope": "filter"})
    assert response.status_code == 200 and "已在背景處理" in response.content.decode()
    assert tagged(team, "大量") == {"p0", "p1", "p2", "p3"}
    assert not Handoff.objects.filter(topic="bulk_tags").exists()  # applied once, and its row gone with it
    # Filtered by a tag: the task removes it from those customers only.
    vip = TagFactory(team=team, name="VIP")
    for customer in people[:3]:
        CustomerTagFactory(customer=customer, tag=vip)
    with django_capture_on_commit_callbacks(execute=True):
        console.post(
            reverse("cdp:bulk"), {"action": "remove_tag", "tag_name": "大量", "scope": "filter", "tag": vip.pk}
        )
    assert tagged(team, "大量") == {"p3"}
    refused = console.post(reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "x" * 101, "scope": "filter"})
    assert refused.status_code == 400


def test_a_bulk_job_whose_worker_never_ran_is_done_by_the_backstop(console, team, people, monkeypatch):
    """The queue message is only a hint: with it lost (no worker picked it up), the hand-off row is still there and
    the per-minute backstop drain applies it, once."""
    from django_q import tasks

    from accounts import handoff

    monkeypatch.setattr("cdp.views.BULK_IN_REQUEST", 2)
    monkeypatch.setattr(tasks, "async_task", lambda *a, **k: None)  # the hint is lost
    response = console.post(reverse("cdp:bulk"), {"action": "add_tag", "tag_name": "補跑", "scope": "filter"})
    assert response.status_code == 200 and tagged(team, "補跑") == set()
    (row,) = Handoff.objects.filter(topic="bulk_tags")
    assert row.team_id == team.pk and row.consumer == "cdp.tasks.on_bulk_tags"
    handoff.drain("cdp.tasks.on_bulk_tags")
    handoff.drain("cdp.tasks.on_bulk_tags")
    assert tagged(team, "補跑") == {"p0", "p1", "p2", "p3"} and not Handoff.objects.filter(topic="bulk_tags").exists()
    assert CustomerEvent.objects.filter(team=team, type="tag_added", data__tag="補跑").count() == 4
