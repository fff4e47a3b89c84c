"""The batched path of POST /api/v1/events (FastRun) gives exactly what the event-by-event path gives.

The property test applies random sequences of identify / binding events (with duplicates, bad events, merges, other
types in between) to two teams: one through the batched path, one with it switched off, and compares the outcome
and the resulting customers, contacts, bindings and timelines. It fails if the batch resolves a member, orders
customers, merges, or rejects differently from identity.identify_member / identity.bind_contact.
"""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cdp.models import Binding, Contact, Customer, CustomerEvent, EventReceipt
from cdp.phones import normalize_phone
from cdp.services import events_api
from cdp.tests.factories import ChannelFactory
from tests.factories import TeamFactory

T0 = timezone.now().replace(microsecond=0) - timedelta(days=3)
TIMES = [T0 + timedelta(hours=h) for h in (0, 5, 2)]
MEMBERS = ["", "M1", "M2"]
PHONES = ["", "0912000001", "0912000002", "bad-phone"]
EMAILS = ["", "a@example.com", "b@example.com"]
EXTERNAL = ["U1", "U2", "U3", "+886912000001"]

identify = st.fixed_dictionaries(
    {
        "type": st.just("member.identify"),
        "member_id": st.sampled_from(MEMBERS),
        "phone": st.sampled_from(PHONES),
        "email": st.sampled_from(EMAILS),
        "name": st.sampled_from(["", "Amy"]),
        "at": st.integers(0, 2),
    }
)
binding = st.fixed_dictionaries(
    {
        "type": st.just("binding"),
        "member_id": st.sampled_from(MEMBERS),
        "phone": st.sampled_from(PHONES),
        "email": st.sampled_from(EMAILS),
        "external": st.sampled_from(EXTERNAL),
        "method": st.sampled_from(["api", "coupon", "nope"]),
        "at": st.integers(0, 2),
    }
)
tag = st.fixed_dictionaries({"type": st.just("tag.add"), "member_id": st.sampled_from(MEMBERS[1:]), "at": st.just(0)})
event_list = st.lists(st.one_of(identify, binding, tag), min_size=1, max_size=12)
batches = st.lists(st.tuples(event_list, st.booleans()), min_size=1, max_size=3)


def to_events(ops, channels, repeat):
    out = []
    for n, op in enumerate(ops):
        data = {k: op[k] for k in ("member_id", "phone", "email", "name") if op.get(k)}
        if op["type"] == "binding":
            kind = "whatsapp" if op["external"].startswith("+") else "line"
            data.update(channel=channels[kind].pk, external_id=op["external"], method=op["method"])
        if op["type"] == "tag.add":
            data["tags"] = ["VIP"]
        out.append(
            {
                "id": f"e{n}-{op['type']}-{op['at']}",
                "type": op["type"],
                "occurred_at": TIMES[op["at"]].isoformat(),
                "data": data,
            }
        )
    if repeat and out:
        out.append(dict(out[0]))  # an id twice in one batch
    return out


def state(team):
    contacts = {c.pk: c.external_id for c in Contact.objects.for_team(team)}

    def owner_key(customer_id):
        return tuple(
            sorted(ext for pk, ext in contacts.items() if Contact.objects.get(pk=pk).customer_id == customer_id)
        )

    customers = []
    for c in Customer.objects.for_team(team).order_by("pk"):
        events = [
            (e.type, contacts.get(e.contact_id), None if e.type == "merged" else e.occurred_at)
            for e in CustomerEvent.objects.filter(customer=c).order_by("pk")
            if e.type not in ("tag_added",)
        ]
        customers.append(
            (
                owner_key(c.pk),
                c.member_id,
                c.phone,
                c.email,
                c.name,
                c.is_bound,
                c.is_member,
                c.first_bound_at,
                c.first_bound_method,
                c.member_since,
                c.merged_into_id is not None,
                c.created_at if c.created_at < T0 + timedelta(days=1) else None,  # (not: now)
                events,
            )
        )
    bindings = sorted(
        (contacts[b.contact_id], owner_key(b.customer_id), b.method, b.member_id, b.phone, b.email, b.bound_at)
        for b in Binding.objects.for_team(team)
    )
    receipts = sorted(EventReceipt.objects.for_team(team).values_list("event_id", flat=True))
    return customers, bindings, receipts


def seed(team, channels):
    """Customers that share a phone / email (the oldest by created_at has the higher id) and a known contact."""
    phone = normalize_phone("0912000001", "TW")
    newer = Customer.objects.create(team=team, phone=phone, email="a@example.com", created_at=T0 - timedelta(days=1))
    Customer.objects.create(team=team, phone=phone, email="b@example.com", created_at=T0 - timedelta(days=2))
    Customer.objects.create(team=team, member_id="M2", email="b@example.com", created_at=T0 - timedelta(days=3))
    Contact.objects.create(team=team, channel=channels["line"], customer=newer, external_id="U1", created_at=T0)


def run(team, channels, sequence, fast):
    seed(team, channels)
    outcomes = []
    handles = events_api.FastRun.handles if fast else staticmethod(lambda item: False)
    with mock.patch.object(events_api.FastRun, "handles", handles):
        for ops, repeat in sequence:
            outcomes.append(events_api.process(team, {"events": to_events(ops, channels, repeat)}).as_dict())
    return outcomes, state(team)


@pytest.mark.django_db
@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=batches, by_phone=st.booleans(), by_email=st.booleans())
def test_batched_path_matches_event_by_event(sequence, by_phone, by_email):
    with transaction.atomic():
        results = []
        for fast in (True, False):
            team = TeamFactory(match_by_phone=by_phone, match_by_email=by_email)
            channels = {kind: ChannelFactory(team=team, kind=kind) for kind in ("line", "whatsapp")}
            results.append(run(team, channels, sequence, fast))
        (fast_outcomes, fast_state), (slow_outcomes, slow_state) = results
        assert fast_outcomes == slow_outcomes
        assert fast_state == slow_state
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_run_that_meets_a_race_is_redone_event_by_event(team):
    line = ChannelFactory(team=team, kind="line")
    events = [
        {"id": "i1", "type": "member.identify", "data": {"member_id": "M1"}},
        {
            "id": "b1",
            "type": "binding",
            "data": {"channel": line.pk, "external_id": "U1", "member_id": "M1", "method": "api"},
        },
        {"id": "b2", "type": "binding", "data": {"channel": line.pk, "external_id": "U2", "method": "api"}},
    ]
    real_flush = events_api.FastRun.flush

    def failing_flush(self):
        real_flush(self)
        raise IntegrityError("simulated race")

    with mock.patch.object(events_api.FastRun, "flush", failing_flush):
        body = events_api.process(team, {"events": events}).as_dict()
    assert body["accepted"] == 2 and [r["index"] for r in body["rejected"]] == [2]
    assert Customer.objects.for_team(team).count() == 1
    assert Contact.objects.for_team(team).get().customer.member_id == "M1"
    assert Binding.objects.for_team(team).count() == 1
    assert sorted(EventReceipt.objects.for_team(team).values_list("event_id", flat=True)) == ["b1", "i1"]


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL row locks and real concurrency")
@pytest.mark.django_db(transaction=True)
def test_simultaneous_batches_binding_one_member_give_one_customer(team):
    line = ChannelFactory(team=team, kind="line")
    barrier = threading.Barrier(3)
    errors = []

    def send(n):
        try:
            events = [
                {"id": f"t{n}-i", "type": "member.identify", "data": {"member_id": "M-RACE", "email": "r@x.com"}},
                {
                    "id": f"t{n}-b",
                    "type": "binding",
                    "data": {"channel": line.pk, "external_id": f"U{n}", "member_id": "M-RACE", "method": "api"},
                },
                {
                    "id": "shared",
                    "type": "binding",
                    "data": {"channel": line.pk, "external_id": "U-shared", "member_id": "M-RACE", "method": "api"},
                },
            ]
            barrier.wait()
            body = events_api.process(team, {"events": events}).as_dict()
            assert not body["rejected"], body
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    active = Customer.objects.for_team(team).active()
    assert active.count() == 1
    assert set(Contact.objects.for_team(team).values_list("customer_id", flat=True)) == {active.get().pk}
    assert Binding.objects.for_team(team).filter(contact__external_id="U-shared").count() == 1
    assert EventReceipt.objects.for_team(team).filter(event_id="shared").count() == 1
