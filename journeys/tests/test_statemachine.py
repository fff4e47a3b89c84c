import pytest
from django.utils import translation

from cdp.tests.factories import ContactFactory
from journeys import services
from journeys.statemachine import (
    ACTIONS,
    AUTOMATIC_REASONS,
    JourneyStatus,
    StatusReason,
    TransitionError,
    actions_for,
    can_edit,
    check_transition,
    warning_for,
)
from journeys.tests.factories import JourneyFactory

S = JourneyStatus


def test_action_matrix_is_seed_002_exactly():
    expected = {
        "draft": ["edit", "copy", "delete"],
        "active": ["view", "close_trigger", "stop", "copy"],
        "scheduled": ["view", "stop", "copy", "delete"],
        "trigger_closed": ["view", "stop", "copy"],
        "stopping": ["view", "copy"],
        "stopped": ["view", "copy", "delete"],
    }
    assert {status: [a.value for a in actions_for(status)] for status in S.values} == expected
    assert set(ACTIONS) == set(S)


def test_status_labels_are_the_seed_words():
    with translation.override("zh-hant"):
        _check_labels()


def _check_labels():
    assert [label for _v, label in S.choices] == ["草稿", "進行中", "排程中", "觸發已關閉", "旅程停止中", "旅程已停止"]


def test_what_each_status_may_change():
    assert can_edit("draft", "channels") and can_edit("draft", "activation")
    for status in ("active", "scheduled", "stopped"):
        assert not can_edit(status, "channels")
        assert not can_edit(status, "activation")
        assert can_edit(status, "node_contents")
    assert not can_edit("stopping", "node_contents")


def test_transitions_are_data():
    check_transition("active", "trigger_closed", "close_trigger")
    check_transition("stopping", "stopped", "all_halted")
    with pytest.raises(TransitionError):
        check_transition("stopped", "active", "publish")
    with pytest.raises(TransitionError):
        check_transition("draft", "stopped", "stop")
    with pytest.raises(TransitionError):
        check_transition("trigger_closed", "active", "close_trigger")


def test_warnings_for_every_automatic_reason():
    with translation.override("zh-hant"):
        messages = {reason.value: str(warning_for(reason)) for reason in StatusReason if reason in AUTOMATIC_REASONS}
    with translation.override("en"):
        assert str(warning_for("template_deleted")) == "WhatsApp message template not found"
    assert messages == {
        "line_quota_exhausted": "LINE 渠道無法發送訊息，官方帳號已無可用訊息則數",
        "whatsapp_balance_zero": "WhatsApp 渠道無法發送訊息，預付帳戶餘額為 0",
        "line_cap_reached": "LINE 渠道無法發送訊息，目標渠道訊息量已達上限",
        "whatsapp_cap_reached": "WhatsApp 渠道無法發送訊息，目標渠道訊息量已達上限",
        "module_deleted": "找不到機器人或機器人模組",
        "template_deleted": "找不到 WhatsApp 訊息範本",
        "attribute_unavailable": "找不到自訂屬性或被封存、資料型態被改變",
        "trigger_limit_reached": "旅程觸發次數已達方案上限",
    }
    assert warning_for(StatusReason.MANUAL) is None


@pytest.mark.django_db
def test_disallowed_action_is_refused_and_nothing_changes(team):
    journey = JourneyFactory(team=team, status="stopping")
    with pytest.raises(services.JourneyError):
        services.run_action(journey, "delete")
    with pytest.raises(services.JourneyError):
        services.run_action(journey, "stop")
    journey.refresh_from_db()
    assert journey.status == "stopping"


@pytest.mark.django_db
def test_status_change_records_reason_and_time(team):
    journey = JourneyFactory(team=team, status="active")
    services.run_action(journey, "close_trigger", actor="amy")
    change = journey.status_changes.get()
    assert (change.from_status, change.to_status, change.reason, change.actor) == (
        "active",
        "trigger_closed",
        "manual",
        "amy",
    )
    assert change.at is not None


@pytest.mark.django_db
def test_stop_halts_everyone_then_becomes_stopped(team, line, module):
    from journeys.tests.factories import delay, enroll_directly, published_journey

    journey = published_journey(team, line, [delay(days=1)])
    enrollment = enroll_directly(journey, ContactFactory(channel=line))
    services.run_action(journey, "stop")
    journey.refresh_from_db()
    enrollment.refresh_from_db()
    assert enrollment.state == "halted"
    assert journey.status == "stopped"
    assert list(journey.status_changes.values_list("to_status", flat=True)) == ["stopped", "stopping", "active"]


@pytest.mark.django_db
def test_scheduled_start_and_expiry_actions(team, line):
    import datetime as dt

    from django.utils import timezone

    from journeys.tests.factories import delay, published_journey

    now = timezone.now()
    start, end = now + dt.timedelta(hours=1), now + dt.timedelta(hours=2)
    closing = published_journey(
        team,
        line,
        [delay(hours=1)],
        activation="scheduled",
        starts_at=start,
        ends_at=end,
        expiry_action="close_trigger",
    )
    stopping = published_journey(
        team, line, [delay(hours=1)], activation="scheduled", starts_at=start, ends_at=end, expiry_action="stop"
    )
    assert closing.status == stopping.status == "scheduled"
    services.apply_schedule(now=start + dt.timedelta(minutes=1))
    closing.refresh_from_db(), stopping.refresh_from_db()
    assert closing.status == stopping.status == "active"
    services.apply_schedule(now=end + dt.timedelta(minutes=1))
    closing.refresh_from_db(), stopping.refresh_from_db()
    assert closing.status == "trigger_closed" and closing.status_reason == "schedule_expired"
    assert stopping.status == "stopped"
