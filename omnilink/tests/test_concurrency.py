"""Two taps at once on the same card make one participant (PostgreSQL, real threads and connections)."""

import threading

import pytest
from django.conf import settings
from django.db import connection

from cdp.tests.factories import ChannelFactory, ContactFactory
from omnilink import links, services
from omnilink.models import Participant
from tests.factories import TeamFactory

from .helpers import make_campaign

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL and real concurrency"),
]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_clicks_make_one_participant():
    team = TeamFactory()
    line = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@brand"})
    wa = ChannelFactory(team=team, kind="whatsapp", credentials={"display_phone_number": "85291234567"})
    campaign = make_campaign(team, line, wa)
    contact = ContactFactory(channel=line)
    token = links.make_token(campaign.pk, contact.pk)
    barrier = threading.Barrier(4)
    outcomes, errors = [], []

    def tap():
        try:
            barrier.wait()
            outcomes.append(services.click(token))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert Participant.objects.count() == 1
    assert {o.url for o in outcomes} == {outcomes[0].url} and outcomes[0].state == "pending"
