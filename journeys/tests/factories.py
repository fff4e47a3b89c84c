"""Factories and helpers for journey tests.

journey = published_journey(team, channel, nodes=[delay(minutes=5), message(channel, module)])
"""

import factory

from cdp.tests.factories import ChannelFactory
from journeys import services
from journeys.graph import new_node_id
from journeys.models import Enrollment, Journey, JourneyChannel
from tests.factories import TeamFactory


class JourneyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Journey

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Journey {n}")
    trigger_type = "tag_added"
    trigger_config = factory.LazyFunction(lambda: {"tags": ["VIP"]})
    draft_graph = factory.LazyFunction(lambda: {"nodes": []})


def node(type, **config):
    return {"id": new_node_id(), "type": type, "config": config}


def delay(days=0, hours=0, minutes=0):
    return node("delay", days=days, hours=hours, minutes=minutes)


def message(channel, module=None, template=None, parameters=None):
    if template is not None:
        return node(
            "message",
            channel_id=channel.pk,
            kind="whatsapp_template",
            template_id=template.pk,
            parameters=parameters or [],
        )
    return node("message", channel_id=channel.pk, kind="module", module_id=module.pk)


def split(tree, yes=(), no=()):
    item = node("split", conditions=tree)
    item["yes"], item["no"] = list(yes), list(no)
    return item


def published_journey(team, channels, nodes, *, trigger_type="tag_added", trigger_config=None, **fields):
    channels = channels if isinstance(channels, list | tuple) else [channels]
    journey = JourneyFactory(
        team=team,
        trigger_type=trigger_type,
        trigger_config=trigger_config if trigger_config is not None else {"tags": ["VIP"]},
        draft_graph={"nodes": list(nodes)},
        **fields,
    )
    for channel in channels:
        JourneyChannel.objects.create(team=team, journey=journey, channel=channel)
    services.publish(journey)
    journey.refresh_from_db()
    return journey


def enroll_directly(journey, contact, **fields):
    """An enrollment at the journey's start without a trigger (engine tests)."""
    from django.utils import timezone

    from journeys.graph import compile_graph

    start = compile_graph(journey.current_version.graph).start
    return Enrollment.objects.create(
        team=journey.team,
        journey=journey,
        version=journey.current_version,
        customer=contact.customer,
        contact=contact,
        node=start,
        next_run_at=fields.pop("next_run_at", timezone.now()),
        **fields,
    )


__all__ = ["ChannelFactory", "JourneyFactory", "published_journey", "enroll_directly"]


def fire_concurrently(team, event_ids, threads=8):
    """The triggers of `event_ids`, fired from `threads` threads released together (PostgreSQL tests): the
    database, not the order of calls, must keep the limits."""
    import threading

    from django.db import connection

    from journeys.tasks import on_customer_events

    barrier = threading.Barrier(threads)
    errors = []

    def worker(chunk):
        try:
            barrier.wait()
            on_customer_events(team.pk, chunk)
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            errors.append(error)
        finally:
            connection.close()

    started = [threading.Thread(target=worker, args=(event_ids[i::threads],)) for i in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert not errors, errors
