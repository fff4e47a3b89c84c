"""seed_demo: deterministic for a seed, every channel kind / binding method / event type, the extension hook."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from cdp.models import (
    Binding,
    Channel,
    Contact,
    CustomAttribute,
    Customer,
    CustomerEvent,
    Order,
    PointsTransaction,
)

pytestmark = pytest.mark.django_db


def snapshot(slug):
    contacts = Contact.objects.filter(team__slug=slug).order_by("created_at", "external_id")
    return [
        (c.channel.kind, c.external_id, c.source, c.status, c.created_at, c.customer.member_id, c.customer.name)
        for c in contacts.select_related("channel", "customer")
    ]


def test_seed_demo_is_deterministic_and_complete():
    out = io.StringIO()
    call_command("seed_demo", team="demo-a", contacts=300, seed=5, now="2026-06-01", stdout=out)
    call_command("seed_demo", team="demo-b", contacts=300, seed=5, now="2026-06-01", stdout=io.StringIO())
    call_command("seed_demo", team="demo-c", contacts=300, seed=6, now="2026-06-01", stdout=io.StringIO())
    a = snapshot("demo-a")
    assert len(a) == 300 and a == snapshot("demo-b") and a != snapshot("demo-c")

    team = "demo-a"
    channels = Channel.objects.filter(team__slug=team)
    assert set(channels.values_list("kind", flat=True)) == {
        "line",
        "facebook",
        "instagram",
        "whatsapp",
        "wechat",
        "web",
    }
    assert all(channels.values_list("is_sandbox", flat=True))
    assert len(set(Contact.objects.filter(team__slug=team).values_list("source", flat=True))) >= 12
    assert set(Binding.objects.filter(team__slug=team).values_list("method", flat=True)) >= {
        "binding_plugin",
        "chatbot_to_website",
        "cart_remarketing",
        "coupon",
        "omnilink",
        "api",
        "pixel",
    }
    types = set(CustomerEvent.objects.filter(team__slug=team).values_list("type", flat=True))
    assert types >= {
        "contact_created",
        "blocked",
        "subscribed",
        "unsubscribed",
        "binding",
        "member_registered",
        "checkout_completed",
        "tag_added",
    }
    customers = Customer.objects.filter(team__slug=team)
    assert customers.count() < 300  # bound members own several contacts
    assert customers.filter(is_member=True).exists() and Order.objects.filter(team__slug=team).exists()
    # Bound customers are mostly members, some bound by phone alone (seed 000 counts the two apart).
    assert customers.filter(is_bound=True, is_member=True).exists()
    assert customers.filter(is_bound=True, is_member=False).exists()
    assert set(CustomAttribute.objects.filter(team__slug=team).values_list("type", flat=True)) == {
        "text",
        "number",
        "date",
        "datetime",
        "boolean",
    }
    # Points come from the ledger: every demo balance is the sum of its rows (orders earn, redemptions spend).
    ledger = dict(
        PointsTransaction.objects.filter(team__slug=team).values_list("customer").annotate(total=Sum("delta"))
    )
    assert ledger and all(c.points_balance == ledger.get(c.pk, 0) for c in customers)
    assert customers.filter(points_balance__gt=0).exists()
    # Every event sits at its own time, within the 18 months.
    first = CustomerEvent.objects.filter(team__slug=team).order_by("occurred_at").first().occurred_at
    assert first.year >= 2024

    with pytest.raises(CommandError):
        call_command("seed_demo", team=team, contacts=10, stdout=io.StringIO())
    call_command("seed_demo", team=team, contacts=10, flush=True, stdout=io.StringIO())
    assert Contact.objects.filter(team__slug=team).count() == 10


def test_other_apps_hook_in_through_their_demo_module(monkeypatch):
    from cdp.management.commands import seed_demo

    seen = []

    def hook(team, rng, *, now):
        seen.append((team.slug, rng.random(), now.date().isoformat()))

    monkeypatch.setattr(seed_demo, "demo_hooks", lambda: [("fake", hook)])
    call_command("seed_demo", team="demo-h", contacts=5, seed=2, now="2026-01-02", stdout=io.StringIO())
    call_command("seed_demo", team="demo-h", contacts=5, seed=2, now="2026-01-02", flush=True, stdout=io.StringIO())
    assert seen[0] == seen[1] and seen[0][0] == "demo-h" and seen[0][2] == "2026-01-02"
