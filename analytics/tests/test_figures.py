"""The hand-computed fixture timeline: services, API, CSV and a rollup rebuild all give the same figures."""

import csv
import io
from datetime import date

import pytest

from analytics import rollups, services
from analytics.models import ChannelDay
from analytics.tasks import on_customer_events
from cdp.models import ChannelKind, CustomerEvent
from cdp.services import contacts as contact_services
from cdp.services import identity
from cdp.services.contacts import block, upsert_contact
from cdp.tests.factories import ChannelFactory

from . import timeline as T

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(team, django_capture_on_commit_callbacks, monkeypatch):
    # Run the on-commit consumers as the events are recorded (tasks inline): the incremental path builds the
    # rollups. conftest's Q_SYNC is set after pytest-django has loaded the settings, so force django-q here.
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        objects = T.build(team)
    return objects


def _overview_by_name(world, data):
    names = {world[key].pk: key for key in ("line", "fb", "wa")}
    return {
        names[s["channel"]["id"]]: {
            k: s[k] for k in ("total_contacts", "bound_valid_contacts", "new_contacts", "unsubscribes")
        }
        for s in data["series"]
    }


def _query(team, world, start, end, unit):
    return services.clean_overview(
        team, start=start, end=end, unit=unit, channels=[world[k].pk for k in ("line", "fb", "wa")]
    )


def _check_services(team, world):
    kpis = services.kpis(team)
    assert {k: kpis[k] for k in T.KPIS} == T.KPIS
    month = services.contact_overview(team, _query(team, world, "2026-01-01", "2026-02-28", "month"))
    assert [p["label"] for p in month["periods"]] == ["2026-01", "2026-02"]
    assert _overview_by_name(world, month) == T.OVERVIEW_MONTH
    week = services.contact_overview(team, _query(team, world, "2026-01-26", "2026-02-08", "week"))
    assert [(p["start"], p["end"]) for p in week["periods"]] == [
        (date(2026, 1, 26), date(2026, 2, 1)),
        (date(2026, 2, 2), date(2026, 2, 8)),
    ]
    assert _overview_by_name(world, week) == T.OVERVIEW_WEEK
    year = services.contact_overview(team, _query(team, world, "2025-12-01", "2026-02-28", "year"))
    assert _overview_by_name(world, year) == T.OVERVIEW_YEAR
    for month_first, expected in ((date(2026, 1, 1), T.BINDINGS_JAN), (date(2026, 2, 1), T.BINDINGS_FEB)):
        data = services.binding_sources(team, month_first)
        assert data["total"] == expected["total"]
        assert len(data["methods"]) == 7
        assert {r["method"]: r["count"] for r in data["methods"] if r["count"]} == {
            k: v for k, v in expected.items() if k != "total"
        }
    for month_first, expected in ((date(2026, 1, 1), T.SOURCES_JAN), (date(2026, 2, 1), T.SOURCES_FEB)):
        data = services.contact_sources(team, month_first)
        assert data["total"] == expected["total"]
        assert len(data["sources"]) == 20
        assert {r["source"]: r["count"] for r in data["sources"] if r["count"]} == {
            k: v for k, v in expected.items() if k != "total"
        }
    valid = services.valid_contacts(team)
    names = {world[key].pk: key for key in ("line", "fb", "wa")}
    got = {
        names[r["channel"]["id"]]: {k: r[k] for k in ("valid", "invalid", "total", "valid_rate")}
        for r in valid["channels"]
    }
    got["total"] = valid["total"]
    assert got == T.VALID


def test_incremental_rollups_match_the_hand_computed_figures(team, world):
    _check_services(team, world)
    assert rollups.verify(team) == []


def test_rebuild_gives_the_same_figures_and_is_idempotent(team, world):
    before = sorted(
        ChannelDay.objects.filter(team=team).values_list(
            "channel_id", "day", "new_contacts", "unsubscribes", "valid_delta", "bound_valid_delta"
        )
    )
    rollups.rebuild(team)
    rollups.rebuild(team)
    after = sorted(
        ChannelDay.objects.filter(team=team).values_list(
            "channel_id", "day", "new_contacts", "unsubscribes", "valid_delta", "bound_valid_delta"
        )
    )
    assert after == before
    _check_services(team, world)


def test_consumer_is_idempotent(team, world):
    ids = list(CustomerEvent.objects.filter(team=team).values_list("pk", flat=True))
    on_customer_events(team.pk, ids)
    on_customer_events(team.pk, ids[:3])
    _check_services(team, world)
    assert rollups.verify(team) == []


def test_month_boundary_uses_the_team_zone(team, world):
    # w1 joined 2026-01-31T15:59Z = Jan 31 23:59 Taipei; w2 at 16:00Z = Feb 1 00:00 Taipei.
    days = dict(ChannelDay.objects.filter(team=team, channel=world["wa"]).values_list("day", "new_contacts"))
    assert days[date(2026, 1, 31)] == 1
    assert days[date(2026, 2, 1)] == 1
    # u1's follow again at 2026-01-31T17:30Z counts on Feb 1 in Taipei.
    row = ChannelDay.objects.get(team=team, channel=world["line"], day=date(2026, 2, 1))
    assert (row.valid_delta, row.bound_valid_delta) == (1, 1)


def test_late_binding_moves_the_later_block(team, world):
    # w2's binding (Feb 2) arrived after its block (Feb 9): the block day now removes a bound valid contact.
    rows = dict(ChannelDay.objects.filter(team=team, channel=world["wa"]).values_list("day", "bound_valid_delta"))
    assert rows[date(2026, 2, 2)] == 1
    assert rows[date(2026, 2, 9)] == -1


def test_a_member_without_a_contact_is_an_omni_customer_once_a_website_contact_joins(
    team, world, django_capture_on_commit_callbacks
):
    """24.8: a customer made for a member id alone is not counted (nor in the member ratio) until a contact joins."""
    with django_capture_on_commit_callbacks(execute=True):
        customer = identity.identify_member(team=team, member_id="M8", occurred_at=T.at("2026-02-16T02:00"))
    kpis = services.kpis(team)
    assert (kpis["omni_customers"], kpis["members"]) == (T.KPIS["omni_customers"], T.KPIS["members"])
    web = ChannelFactory(team=team, kind=ChannelKind.WEB, name="官網")
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.upsert_contact(
            channel=web, external_id="visitor-8", occurred_at=T.at("2026-02-16T03:00"), customer=customer
        )
    kpis = services.kpis(team)
    assert (kpis["omni_customers"], kpis["members"]) == (T.KPIS["omni_customers"] + 1, T.KPIS["members"] + 1)
    assert kpis["member_rate"] == round(3 / 7, 4)
    assert rollups.verify(team) == []


def test_unsubscribes_count_people_leaving_not_scopes(team, world, django_capture_on_commit_callbacks):
    """24.9: three scopes at once count once; block, follow again, block again counts twice."""
    channel = ChannelFactory(team=team, kind=ChannelKind.LINE, name="LINE 2")
    with django_capture_on_commit_callbacks(execute=True):
        every_scope = contact_services.upsert_contact(
            channel=channel, external_id="S1", occurred_at=T.at("2026-03-02T02:00")
        ).contact
        blocks_twice = contact_services.upsert_contact(
            channel=channel, external_id="S2", occurred_at=T.at("2026-03-02T02:00")
        ).contact
    with django_capture_on_commit_callbacks(execute=True):
        for scope in ("broadcast", "web_push", "cart_remarketing"):
            contact_services.set_unsubscribed(every_scope, scope=scope, occurred_at=T.at("2026-03-03T02:00"))
        contact_services.block(blocks_twice, occurred_at=T.at("2026-03-03T03:00"))
        contact_services.follow(blocks_twice, occurred_at=T.at("2026-03-04T03:00"))
        contact_services.block(blocks_twice, occurred_at=T.at("2026-03-05T03:00"))
    days = dict(ChannelDay.objects.filter(team=team, channel=channel).values_list("day", "unsubscribes"))
    assert days == {date(2026, 3, 2): 0, date(2026, 3, 3): 2, date(2026, 3, 4): 0, date(2026, 3, 5): 1}
    march = services.contact_overview(
        team, services.clean_overview(team, start="2026-03-01", end="2026-03-31", unit="month", channels=[channel.pk])
    )
    assert march["series"][0]["unsubscribes"] == [3]
    assert rollups.verify(team) == []


def test_api_gives_the_same_figures(team, world, api):
    kpis = api.get("/api/v1/analytics/kpis").json()
    assert {k: kpis[k] for k in T.KPIS} == T.KPIS
    ids = ",".join(str(world[k].pk) for k in ("line", "fb", "wa"))
    data = api.get(f"/api/v1/analytics/contact-overview?start=2026-01-01&end=2026-02-28&unit=month&channels={ids}")
    assert data.status_code == 200, data.content
    data = data.json()
    assert [p["label"] for p in data["periods"]] == ["2026-01", "2026-02"]
    names = {world[key].pk: key for key in ("line", "fb", "wa")}
    got = {
        names[s["channel"]["id"]]: {
            k: s[k] for k in ("total_contacts", "bound_valid_contacts", "new_contacts", "unsubscribes")
        }
        for s in data["series"]
    }
    assert got == T.OVERVIEW_MONTH
    feb = api.get("/api/v1/analytics/binding-sources?month=2026-02").json()
    assert feb["total"] == 4
    assert {r["method"]: r["count"] for r in feb["methods"] if r["count"]} == {
        k: v for k, v in T.BINDINGS_FEB.items() if k != "total"
    }
    jan = api.get("/api/v1/analytics/contact-sources?month=2026-01").json()
    assert jan["total"] == 4 and len(jan["sources"]) == 20
    assert {r["source"]: r["count"] for r in jan["sources"] if r["count"]} == {
        k: v for k, v in T.SOURCES_JAN.items() if k != "total"
    }
    valid = api.get("/api/v1/analytics/valid-contacts").json()
    assert valid["total"] == T.VALID["total"]
    assert {names[r["channel"]["id"]]: r["valid"] for r in valid["channels"]} == {"line": 2, "fb": 2, "wa": 1}


def _csv(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_gives_the_same_figures(team, world, console):
    rows = _csv(console.get("/analytics/export/kpis.csv"))
    assert rows[1:] == [
        ["全渠道顧客", "6", "100.0%"],
        ["社群身份綁定", "5", "83.3%"],
        ["會員身份", "2", "33.3%"],
        ["會員完成社群身份綁定", "2", "33.3%"],
    ]
    ids = ",".join(str(world[k].pk) for k in ("line", "fb", "wa"))
    rows = _csv(
        console.get(f"/analytics/export/overview.csv?start=2026-01-01&end=2026-02-28&unit=month&channels={ids}")
    )
    assert rows[0][4:] == ["總聯絡人數", "總社群身份綁定數", "新聯絡人數", "取消訂閱數"]
    by = {(r[0], r[3]): [int(v) for v in r[4:]] for r in rows[1:]}
    for key, name in (("line", "LINE 官方帳號"), ("fb", "FB 粉絲專頁"), ("wa", "WhatsApp 客服")):
        for i, label in enumerate(["2026-01", "2026-02"]):
            expected = T.OVERVIEW_MONTH[key]
            assert by[(label, name)] == [
                expected[k][i] for k in ("total_contacts", "bound_valid_contacts", "new_contacts", "unsubscribes")
            ]
    rows = _csv(console.get("/analytics/export/binding_sources.csv?month=2026-01"))
    assert rows[1] == ["2026-01", "總數", "2"]
    assert ["2026-01", "社群綁定插件", "1"] in rows and ["2026-01", "機器人導向官網", "1"] in rows
    assert ["2026-01", "OmniLink", "0"] in rows
    rows = _csv(console.get("/analytics/export/contact_sources.csv?month=2026-02"))
    assert rows[1] == ["2026-02", "總數", "3"] and len(rows) == 22
    assert ["2026-02", "優惠券模組", "1"] in rows and ["2026-02", "自然流量", "0"] in rows
    rows = _csv(console.get("/analytics/export/valid_contacts.csv"))
    assert rows[-1] == ["總數", "5", "2", "7", "71.4%"]
    assert ["LINE 官方帳號", "2", "1", "3", "66.7%"] in rows


def test_a_large_batch_read_as_its_id_range_gives_the_same_rollups(team, monkeypatch):
    """Past ID_RANGE_ABOVE ids (an import's coalesced hand-offs) a batch is read as its id range: a superset of
    days, refreshed from all their events, so the rollups equal a rebuild."""
    from analytics import rollups

    line = ChannelFactory(team=team, kind="line")
    from django.utils import timezone

    contacts = [upsert_contact(channel=line, external_id=f"U{i}").contact for i in range(6)]
    block(contacts[0], occurred_at=timezone.now())
    monkeypatch.setattr(rollups, "ID_RANGE_ABOVE", 2)
    ids = list(CustomerEvent.objects.filter(team=team).values_list("pk", flat=True))
    assert rollups.on_events(team, ids)
    assert rollups.verify(team) == []


def test_every_source_path_is_counted(team, world, django_capture_on_commit_callbacks):
    """Issue 18: a contact from each new path, counted by the incremental rollups and by rebuild_analytics."""
    with django_capture_on_commit_callbacks(execute=True):
        T.build_new_paths(team, world)

    def figures():
        sources = services.contact_sources(team, date(2026, 3, 1))
        bindings = services.binding_sources(team, date(2026, 3, 1))
        return (
            {"total": sources["total"], **{r["source"]: r["count"] for r in sources["sources"] if r["count"]}},
            {"total": bindings["total"], **{r["method"]: r["count"] for r in bindings["methods"] if r["count"]}},
        )

    assert figures() == (T.SOURCES_MAR, T.BINDINGS_MAR)
    rollups.rebuild(team)
    assert figures() == (T.SOURCES_MAR, T.BINDINGS_MAR)
    assert rollups.verify(team) == []
    # The chart hides only rows that can never be non-zero (every channel kind of these rows exists here).
    shown = services.shown_sources(team, services.contact_sources(team, date(2026, 3, 1)))
    assert shown["hidden"] == 0
