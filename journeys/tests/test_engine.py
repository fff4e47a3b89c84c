import datetime as dt
import zoneinfo

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts import outbound_webhooks
from accounts.models import OutboundWebhookDelivery, Team
from accounts.tests.test_outbound_webhooks import Receiver, readme_verifier
from cdp.models import AttributeValue, CustomerTag, EventType
from cdp.services.tags import add_tags
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory, TagFactory
from journeys import engine, services
from journeys.models import Enrollment, EnrollmentStep
from journeys.tests.factories import delay, enroll_directly, message, node, published_journey, split
from messaging.models import OutboundMessage
from messaging.services.budgets import mark_exhausted
from messaging.tests.factories import ChatbotModuleFactory, WhatsAppTemplateFactory

pytestmark = pytest.mark.django_db

TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")


def run_all(now=None):
    total = 0
    while True:
        ids, token = engine.claim(500, now=now)
        if not ids:
            return total
        total += engine.process(ids, token, now=now)


def test_delay_split_tag_message_path(team, line, module):
    vip = {"op": "and", "children": [{"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]}]}
    yes_tag = node("tags", add=["engaged"], remove=[])
    TagFactory(team=team, name="VIP")
    journey = published_journey(team, line, [delay(minutes=5), split(vip, yes=[yes_tag, message(line, module)], no=[])])

    in_ = ContactFactory(channel=line)
    out = ContactFactory(channel=line)
    add_tags(customer=in_.customer, names=["VIP"], source="test")
    e1, e2 = enroll_directly(journey, in_), enroll_directly(journey, out)
    assert run_all() == 2  # both arrive at the delay and wait
    e1.refresh_from_db()
    assert e1.waiting and e1.next_run_at > timezone.now()
    assert run_all() == 0
    later = timezone.now() + dt.timedelta(minutes=6)
    assert run_all(now=later) == 4  # split yes + tag + message, split no
    e1.refresh_from_db(), e2.refresh_from_db()
    assert e1.state == e2.state == "completed"
    assert CustomerTag.objects.filter(customer=in_.customer, tag__name="engaged").exists()
    assert not CustomerTag.objects.filter(customer=out.customer, tag__name="engaged").exists()
    sent = OutboundMessage.objects.get(team=team, origin="journey")
    assert sent.contact == in_ and sent.idempotency_key.startswith(f"journey:{e1.pk}:")
    assert EnrollmentStep.objects.get(enrollment=e1, node_type="message").message_id == sent.pk


def test_dnd_over_midnight_defers_to_window_end(team, line, module):
    """Seed 002's example: 23:00~23:59 and 00:00~08:00 in the team's zone is one window over midnight."""
    journey = published_journey(
        team, line, [message(line, module)], dnd_segments=[["23:00", "23:59"], ["00:00", "08:00"]]
    )
    morning = dt.datetime(2026, 3, 11, 8, 0, tzinfo=TAIPEI)
    for now in (dt.datetime(2026, 3, 10, 23, 30, tzinfo=TAIPEI), dt.datetime(2026, 3, 11, 2, 0, tzinfo=TAIPEI)):
        enrollment = enroll_directly(journey, ContactFactory(channel=line), next_run_at=now)
        run_all(now=now)
        enrollment.refresh_from_db()
        assert enrollment.waiting, list(
            EnrollmentStep.objects.filter(enrollment=enrollment).values("outcome", "reason")
        )
        assert enrollment.next_run_at == morning
    assert not OutboundMessage.objects.exists()
    run_all(now=morning + dt.timedelta(minutes=1))
    assert OutboundMessage.objects.count() == 2
    daytime = dt.datetime(2026, 3, 11, 12, 0, tzinfo=TAIPEI)
    sent_now = enroll_directly(journey, ContactFactory(channel=line), next_run_at=daytime)
    run_all(now=daytime)
    sent_now.refresh_from_db()
    assert sent_now.state == "completed"
    assert OutboundMessage.objects.count() == 3
    assert EnrollmentStep.objects.filter(outcome="deferred").count() == 2


def test_engine_defers_in_dnd_and_sends_after(team, line, module, monkeypatch):
    journey = published_journey(team, line, [message(line, module)], dnd_segments=[["00:00", "23:59"]])
    contact = ContactFactory(channel=line)
    enrollment = enroll_directly(journey, contact)
    run_all()
    enrollment.refresh_from_db()
    assert enrollment.waiting and enrollment.state == "active"
    assert EnrollmentStep.objects.get(enrollment=enrollment).outcome == "deferred"
    assert not OutboundMessage.objects.filter(team=team).exists()
    services.update_settings(journey, values={"dnd_segments": []})
    journey.refresh_from_db()
    engine.Enrollment.objects.filter(pk=enrollment.pk).update(next_run_at=timezone.now())
    run_all()
    enrollment.refresh_from_db()
    assert enrollment.state == "completed"
    assert OutboundMessage.objects.filter(team=team, origin="journey").count() == 1


def test_whatsapp_free_form_outside_window_is_skipped_with_reason(team, module):
    wa = ChannelFactory(team=team, kind="whatsapp")
    journey = published_journey(team, wa, [message(wa, module)])
    contact = ContactFactory(channel=wa, last_customer_interaction_at=None)
    enrollment = enroll_directly(journey, contact)
    run_all()
    step = EnrollmentStep.objects.get(enrollment=enrollment)
    assert step.outcome == "skipped" and "template" in step.reason
    assert not OutboundMessage.objects.exists()


def test_unsubscribed_and_blocked_are_skipped(team, line, module):
    journey = published_journey(team, line, [message(line, module)])
    blocked = enroll_directly(journey, ContactFactory(channel=line, status="blocked"))
    unsub = enroll_directly(journey, ContactFactory(channel=line, unsubscribed_broadcast=True))
    run_all()
    reasons = dict(EnrollmentStep.objects.values_list("enrollment_id", "reason"))
    assert reasons == {blocked.pk: "blocked", unsub.pk: "unsubscribed"}


def test_line_cap_reached_stops_the_journey(team, line, module):
    journey = published_journey(team, line, [message(line, module)])
    journey.targets.update(message_cap=2)
    enrollments = [enroll_directly(journey, ContactFactory(channel=line)) for _ in range(3)]
    run_all()
    journey.refresh_from_db()
    assert OutboundMessage.objects.filter(team=team).count() == 2
    assert journey.status_reason == "line_cap_reached"
    assert journey.status in ("stopping", "stopped")
    states = sorted(e.state for e in type(enrollments[0]).objects.filter(journey=journey))
    assert states == ["completed", "completed", "halted"]


def test_whatsapp_cap_reached(team):
    wa = ChannelFactory(team=team, kind="whatsapp")
    template = WhatsAppTemplateFactory(channel=wa)
    journey = published_journey(team, wa, [message(wa, template=template, parameters=["a", "b"])])
    journey.targets.update(message_cap=1)
    for _ in range(2):
        enroll_directly(journey, ContactFactory(channel=wa))
    run_all()
    journey.refresh_from_db()
    assert journey.status_reason == "whatsapp_cap_reached"


@pytest.mark.parametrize("kind,reason", [("line", "line_quota_exhausted"), ("whatsapp", "whatsapp_balance_zero")])
def test_budget_exhausted_at_send_stops(team, kind, reason):
    channel = ChannelFactory(team=team, kind=kind)
    if kind == "whatsapp":
        step = message(channel, template=WhatsAppTemplateFactory(channel=channel), parameters=["a", "b"])
    else:
        step = message(channel, ChatbotModuleFactory(team=team))
    journey = published_journey(team, channel, [step])
    enroll_directly(journey, ContactFactory(channel=channel))
    mark_exhausted(channel, reason="test")
    run_all()
    journey.refresh_from_db()
    assert journey.status_reason == reason
    assert journey.status == "stopped"
    assert not OutboundMessage.objects.exists()


def test_module_deleted_at_send_stops(team, line, module):
    journey = published_journey(team, line, [message(line, module)])
    enroll_directly(journey, ContactFactory(channel=line))
    module.deleted_at = timezone.now()
    module.save()
    run_all()
    journey.refresh_from_db()
    assert journey.status_reason == "module_deleted"


@pytest.mark.parametrize(
    "kind,payload_key,reason",
    [
        ("module_deleted", "module_id", "module_deleted"),
        ("template_deleted", "template_id", "template_deleted"),
        ("attribute_archived", "key", "attribute_unavailable"),
        ("attribute_retyped", "key", "attribute_unavailable"),
        ("budget_exhausted", "channel_id", "line_quota_exhausted"),
    ],
)
def test_signals_stop_dependent_journeys(team, line, module, kind, payload_key, reason):
    from journeys.tasks import on_signal

    wa = ChannelFactory(team=team, kind="whatsapp")
    template = WhatsAppTemplateFactory(channel=wa)
    CustomAttributeFactory(team=team, key="level", type="text")
    journey = published_journey(
        team,
        [line, wa],
        [
            message(line, module),
            message(wa, template=template, parameters=["a", "b"]),
            node("attribute", key="level", value="gold"),
        ],
    )
    unrelated = published_journey(team, [wa], [delay(hours=1)])
    value = {"module_id": module.pk, "template_id": template.pk, "key": "level", "channel_id": line.pk}[payload_key]
    on_signal(team.pk, kind, {payload_key: value})
    on_signal(team.pk, kind, {payload_key: value})  # idempotent
    journey.refresh_from_db(), unrelated.refresh_from_db()
    assert journey.status == "stopped" and journey.status_reason == reason
    assert unrelated.status == "active"
    assert journey.status_changes.filter(reason=reason).count() == 2  # stopping, then stopped


def test_attribute_node_records_a_signed_outbound_webhook_delivery(team, line, settings):
    """The delivery is a row written with the attribute change (issue 23 item 12), then sent signed."""
    import json

    from django.db import connection
    from django.test import TestCase

    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    settings.OUTBOUND_WEBHOOK_ALLOW_HTTP = True
    with Receiver() as receiver:
        team.outbound_webhook_url = f"http://127.0.0.1:{receiver.port}/hook"
        team.save()
        CustomAttributeFactory(team=team, key="level", type="text")
        journey = published_journey(team, line, [node("attribute", key="level", value="白金會員")])
        contact = ContactFactory(channel=line)
        enroll_directly(journey, contact)
        with TestCase.captureOnCommitCallbacks(using=connection.alias) as hints:
            run_all()
        delivery = OutboundWebhookDelivery.objects.get(team=team)
        assert delivery.state == "pending" and delivery.event_type == "customer.attribute_changed"
        assert len([hint for hint in hints if hint is outbound_webhooks._hint_send]) == 1
        for hint in hints:
            hint()  # the hint runs the sending task inline (django-q2 sync in tests)
        delivery.refresh_from_db()
    assert AttributeValue.objects.get(customer=contact.customer).text_value == "白金會員"
    assert delivery.state == "delivered"
    (request,) = receiver.requests
    team.refresh_from_db()
    assert readme_verifier()(team.outbound_webhook_secret, request["body"], request["headers"]["X-SocialCDP-Signature"])
    assert json.loads(request["body"])["value"] == "白金會員"


def test_attribute_change_rolled_back_records_no_delivery(team, line, monkeypatch):
    """The delivery row commits with the batch or not at all (a worker dying after recording it)."""
    Team.objects.filter(pk=team.pk).update(outbound_webhook_url="https://hooks.example.com/hook")
    CustomAttributeFactory(team=team, key="level", type="text")
    journey = published_journey(team, line, [node("attribute", key="level", value="gold")])
    enroll_directly(journey, ContactFactory(channel=line))

    def crash():
        assert OutboundWebhookDelivery.objects.count() == 1  # recorded inside the batch's transaction...
        raise RuntimeError("worker died before commit")

    real = outbound_webhooks.enqueue_many

    def enqueue_then_die(events):
        real(events)
        crash()

    monkeypatch.setattr(outbound_webhooks, "enqueue_many", enqueue_then_die)
    with pytest.raises(RuntimeError):
        run_all()
    assert not OutboundWebhookDelivery.objects.exists()  # ...and gone with it
    monkeypatch.undo()
    engine.sweep(now=timezone.now() + engine.LEASE * 2)  # the dead worker's claim expires
    run_all()
    assert OutboundWebhookDelivery.objects.filter(team=team, state="pending").count() == 1


def test_points_add_and_deduct_never_below_zero(team, line):
    journey = published_journey(team, line, [node("points", op="add", amount=5), node("points", op="deduct", amount=8)])
    contact = ContactFactory(channel=line)
    enrollment = enroll_directly(journey, contact)
    run_all()
    contact.customer.refresh_from_db()
    assert contact.customer.points_balance == 5
    outcomes = list(
        EnrollmentStep.objects.filter(enrollment=enrollment).order_by("id").values_list("outcome", flat=True)
    )
    assert outcomes == ["done", "failed"]


def test_holdout_gets_no_messages(team, line, module):
    journey = published_journey(team, line, [message(line, module)])
    enrollment = enroll_directly(journey, ContactFactory(channel=line), holdout=True)
    run_all()
    assert EnrollmentStep.objects.get(enrollment=enrollment).outcome == "held_out"
    assert not OutboundMessage.objects.exists()


def test_stale_claim_is_swept_and_late_worker_cannot_commit(team, line, module):
    journey = published_journey(team, line, [message(line, module)])
    enrollment = enroll_directly(journey, ContactFactory(channel=line))
    ids, token = engine.claim()
    assert ids == [enrollment.pk]
    assert engine.claim()[0] == []  # claimed rows are not handed out twice
    assert engine.sweep(now=timezone.now() + engine.LEASE + dt.timedelta(seconds=1)) == 1
    ids2, token2 = engine.claim()
    assert ids2 == [enrollment.pk]
    assert engine.process(ids, token) == 0  # the first (late) worker's token no longer matches
    assert engine.process(ids2, token2) == 1
    assert OutboundMessage.objects.filter(team=team).count() == 1


def test_enrollments_run_on_their_version(team, line, module):
    journey = published_journey(team, line, [delay(minutes=1), node("tags", add=["v1"], remove=[])])
    old = enroll_directly(journey, ContactFactory(channel=line))
    run_all()
    graph = journey.current_version.graph
    graph["nodes"][1]["config"] = {"add": ["v2"], "remove": []}
    services.set_graph(journey, graph)
    services.publish(journey)
    journey.refresh_from_db()
    assert journey.current_version.number == 2
    new = enroll_directly(journey, ContactFactory(channel=line))
    run_all(now=timezone.now() + dt.timedelta(minutes=2))
    run_all(now=timezone.now() + dt.timedelta(minutes=4))
    assert CustomerTag.objects.get(customer=old.customer).tag.name == "v1"
    assert CustomerTag.objects.get(customer=new.customer).tag.name == "v2"
    assert EventType.TAG_ADDED  # events were written by cdp's service


def test_moving_waiting_customers_to_new_version(team, line):
    journey = published_journey(team, line, [delay(days=1), node("tags", add=["v1"], remove=[])])
    waiting = [enroll_directly(journey, ContactFactory(channel=line)) for _ in range(3)]
    run_all()
    v1 = journey.current_version
    delay_id = v1.graph["nodes"][0]["id"]
    graph = v1.graph
    graph["nodes"][1]["config"] = {"add": ["v2"], "remove": []}
    services.set_graph(journey, graph)
    services.publish(journey)
    journey.refresh_from_db()
    assert services.version_node_counts(journey) == {v1.pk: {delay_id: 3}}
    dry = services.move_waiting(journey, from_version=v1, node_id=delay_id, dry_run=True)
    assert (dry.count, dry.applied) == (3, False)
    assert services.version_node_counts(journey) == {v1.pk: {delay_id: 3}}
    moved = services.move_waiting(journey, from_version=v1, node_id=delay_id, dry_run=False)
    assert moved.count == 3
    assert services.version_node_counts(journey) == {}
    run_all(now=timezone.now() + dt.timedelta(days=1, minutes=1))
    assert set(
        CustomerTag.objects.filter(customer__in=[e.customer for e in waiting]).values_list("tag__name", flat=True)
    ) == {"v2"}


def test_live_journey_cannot_change_structure(team, line):
    journey = published_journey(team, line, [delay(days=1)])
    import copy

    graph = copy.deepcopy(journey.current_version.graph)
    graph["nodes"].append(delay(hours=1))
    with pytest.raises(services.JourneyError):
        services.set_graph(journey, graph)
    with pytest.raises(services.JourneyError):
        services.update_settings(journey, values={"channels": []})


def test_a_failing_enrollment_does_not_poison_its_batch(team, line, module, monkeypatch):
    journey = published_journey(team, line, [node("points", op="add", amount=1)])
    good = enroll_directly(journey, ContactFactory(channel=line))
    bad = enroll_directly(journey, ContactFactory(channel=line))
    original = engine._points

    def explode(batch, items):
        if any(e.pk == bad.pk for e, _n in items):
            raise RuntimeError("boom")
        return original(batch, items)

    monkeypatch.setitem(engine.HANDLERS, "points", explode)
    engine.run_batch()
    good.refresh_from_db(), bad.refresh_from_db()
    assert good.state == "completed"
    assert bad.state == "failed" and "boom" in bad.reason and bad.claimed_until is None


def test_message_node_sends_a_batch_in_a_constant_number_of_queries(team, line, module):
    """One outbox lookup and one INSERT per batch, not per enrollment (the engine's speed target)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(count):
        journey = published_journey(team, line, [message(line, module)])
        for _ in range(count):
            enroll_directly(journey, ContactFactory(channel=line))
        with CaptureQueriesContext(connection) as ctx:
            run_all()
        assert OutboundMessage.objects.filter(origin="journey", origin_id=str(journey.pk)).count() == count
        return len([q for q in ctx.captured_queries if "messaging_outboundmessage" in q["sql"]])

    assert queries_for(3) == queries_for(30)


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="terminates a PostgreSQL backend")
@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_while_a_batch_is_retried_one_by_one_fails_no_enrollment(team, line, module, monkeypatch):
    """The database ends the worker's connection mid-batch, and again while the batch is retried one by one. A
    lost connection is no enrollment's fault: the one it hit keeps its claim until the lease ends and then runs as
    usual; the others go on (issue 23: backends terminated during load)."""
    import psycopg

    journey = published_journey(team, line, [node("points", op="add", amount=1)])
    enrollments = [enroll_directly(journey, ContactFactory(channel=line)) for _ in range(3)]
    db = connection.settings_dict
    original = engine._points
    terminated = []

    def points(batch, items):
        if len(terminated) < 2:  # the batch, then the first enrollment retried alone
            pid = connection.connection.info.backend_pid
            with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
            terminated.append(pid)
        return original(batch, items)

    monkeypatch.setitem(engine.HANDLERS, "points", points)
    assert engine.run_batch() == 2
    assert len(terminated) == 2
    rows = Enrollment.objects.filter(pk__in=[e.pk for e in enrollments]).order_by("pk")
    assert [row.state for row in rows] == ["active", "completed", "completed"]  # none failed
    assert rows[0].claimed_until is not None

    later = timezone.now() + engine.LEASE + dt.timedelta(seconds=1)
    assert engine.sweep(now=later) == 1
    assert run_all(now=later) == 1
    assert set(Enrollment.objects.filter(journey=journey).values_list("state", flat=True)) == {"completed"}


@pytest.mark.parametrize("change", ["archive", "retype"])
@pytest.mark.parametrize("place", ["split", "trigger_tag_split"])
def test_attribute_used_only_in_a_split_stops_the_journey(console, team, line, module, change, place):
    """Issue 24 item 2, seed 002: 自訂屬性為封存狀態、自訂屬性資料型態被改變 → 旅程已停止, also when only a split
    node's conditions test the attribute (nested in a group); the list shows the seed's ⚠️ text."""
    from django.urls import reverse

    from accounts import handoff
    from cdp.services.attributes import archive_attribute, change_attribute_type

    attribute = CustomAttributeFactory(team=team, key="level", type="text")
    TagFactory(team=team, name="VIP")
    tree = {
        "op": "and",
        "children": [
            {"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]},
            {"op": "or", "children": [{"type": "attribute", "key": "level", "op": "equals", "value": "gold"}]},
        ],
    }
    if place == "split":
        nodes = [delay(hours=1), split(tree, yes=[message(line, module)], no=[])]
    else:  # the split is the first node, behind a tag trigger: nothing else names the attribute
        nodes = [split(tree, yes=[], no=[message(line, module)])]
    journey = published_journey(team, line, nodes)
    unrelated = published_journey(team, line, [delay(hours=1)])
    waiting = enroll_directly(journey, ContactFactory(channel=line))
    if change == "archive":
        archive_attribute(attribute)
    else:
        change_attribute_type(attribute, "number")
    handoff.drain("journeys.tasks.on_signal")
    journey.refresh_from_db(), unrelated.refresh_from_db(), waiting.refresh_from_db()
    assert (journey.status, journey.status_reason) == ("stopped", "attribute_unavailable")
    assert waiting.state == "halted"
    assert unrelated.status == "active"
    row = console.get(reverse("journeys:index")).content.decode().split(f'data-journey="{journey.pk}"')[1]
    assert "⚠️ 找不到自訂屬性或被封存、資料型態被改變" in row.split("</tr>")[0]


def test_attribute_trigger_and_every_condition_place_are_references(team, line, module):
    """graph.referenced is the one collection of what a journey depends on: nodes, split conditions, trigger."""
    from journeys import graph as g

    tree = {"op": "and", "children": [{"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]}]}
    tree["children"].append({"type": "attribute", "key": "city", "op": "equals", "value": "台北"})
    graph = {"nodes": [split(tree, yes=[node("attribute", key="level", value="gold")], no=[message(line, module)])]}
    refs = g.referenced(graph, trigger_type="attribute_changed", trigger_config={"key": "tier"})
    assert refs["attributes"] == {"city", "level", "tier"}
    assert refs["tags"] == {"VIP"} and refs["modules"] == {module.pk} and refs["channels"] == {line.pk}
    assert g.referenced(graph, trigger_type="tag_added", trigger_config={"tags": ["回購"]})["tags"] == {"VIP", "回購"}


@pytest.mark.parametrize("change", ["archive", "retype"])
def test_split_on_an_attribute_gone_before_the_signal_stops_instead_of_taking_no(team, line, module, change):
    """Issue 24 item 2: if the engine reaches the split before the archive / retype signal is handled, it stops the
    journey with the seed's reason rather than sending everyone down 否."""
    from cdp.services.attributes import archive_attribute, change_attribute_type

    attribute = CustomAttributeFactory(team=team, key="level", type="text")
    tree = {"op": "and", "children": [{"type": "attribute", "key": "level", "op": "equals", "value": "gold"}]}
    journey = published_journey(team, line, [split(tree, yes=[], no=[message(line, module)])])
    enrollment = enroll_directly(journey, ContactFactory(channel=line))
    archive_attribute(attribute) if change == "archive" else change_attribute_type(attribute, "number")
    run_all()  # the signal's hand-off has not run
    journey.refresh_from_db(), enrollment.refresh_from_db()
    assert journey.status_reason == "attribute_unavailable" and journey.status in ("stopping", "stopped")
    assert enrollment.state == "halted" and not OutboundMessage.objects.exists()
    assert enrollment.reason == "找不到自訂屬性或被封存、資料型態被改變"
