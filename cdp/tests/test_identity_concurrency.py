"""Two bindings for the same member at once give one customer (PostgreSQL, real threads and connections)."""

import threading

import pytest
from django.conf import settings
from django.db import connection

from cdp.models import Binding, Contact, Customer
from cdp.services import identity
from cdp.tests.factories import ChannelFactory, ContactFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL row locks and real concurrency"),
]


def run_concurrently(funcs):
    barrier = threading.Barrier(len(funcs))
    errors, results = [], []

    def wrap(func):
        try:
            barrier.wait()
            results.append(func())
        except Exception as exc:  # noqa: BLE001 - collected and asserted below: a failing thread fails the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(func,)) for func in funcs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("identity_kwargs", [{"member_id": "M-RACE"}, {"phone": "0912555000"}, {"email": "r@x.com"}])
def test_simultaneous_bindings_of_one_member_give_one_customer(team, identity_kwargs):
    line, wa, fb = (ChannelFactory(team=team, kind=k) for k in ("line", "whatsapp", "facebook"))
    contacts = [ContactFactory(channel=channel) for channel in (line, wa, fb, line)]

    def binder(contact):
        return lambda: (
            identity.bind_contact(
                contact=Contact.objects.select_related("team").get(pk=contact.pk), method="api", **identity_kwargs
            ).status
        )

    statuses = run_concurrently([binder(contact) for contact in contacts])
    assert statuses == ["bound"] * 4
    owners = set(Contact.objects.filter(pk__in=[c.pk for c in contacts]).values_list("customer_id", flat=True))
    assert len(owners) == 1
    assert Customer.objects.active().filter(pk__in=owners).count() == 1
    assert Binding.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_simultaneous_identify_of_one_member(team):
    results = run_concurrently(
        [lambda: identity.identify_member(team=team, member_id="M-ID", email="m@x.com").pk for _ in range(4)]
    )
    assert len(set(results)) == 1 and Customer.objects.filter(member_id="M-ID").count() == 1


@pytest.mark.django_db(transaction=True)
def test_same_binding_twice_at_once_is_idempotent(team):
    contact = ContactFactory(channel=ChannelFactory(team=team))

    def bind():
        fresh = Contact.objects.select_related("team").get(pk=contact.pk)
        return identity.bind_contact(contact=fresh, method="api", member_id="M-SAME").status

    statuses = run_concurrently([bind, bind, bind])
    assert sorted(statuses) == ["already_bound", "already_bound", "bound"]
    assert Binding.objects.count() == 1
