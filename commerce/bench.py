"""Benchmarks of Chat to Order (issue 19): the customer's order pages (p99) and orders created through the API
from 2 processes (orders/s), each beside hand-written SQL doing the same reads / writes."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Team
from accounts.services import create_team
from cdp.models import Channel, Contact, Customer
from core.benchmarks import benchmark, figure

from .models import Order, OrderItem, OrderTransition, Payment
from .services import links, orders

ROOT = Path(__file__).resolve().parents[1]


def _team(slug):
    team = Team.objects.filter(slug=slug).first() or create_team(slug=slug, name=slug)
    for model in (Payment, OrderTransition, OrderItem, Order):
        model.objects.filter(team=team).delete()
    channel = Channel.objects.filter(team=team, kind="whatsapp").first() or Channel.objects.create(
        team=team, kind="whatsapp", name="WhatsApp", is_sandbox=True
    )
    contact = Contact.objects.filter(team=team, channel=channel).first()
    if contact is None:
        customer = Customer.objects.create(team=team, name="bench")
        contact = Contact.objects.create(team=team, channel=channel, customer=customer, external_id="+85290000000")
    # The customer wrote just now: WhatsApp takes the order link within 24 hours of their last message.
    Contact.objects.filter(pk=contact.pk).update(last_customer_interaction_at=timezone.now())
    contact.refresh_from_db()
    return team, contact


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


@benchmark("commerce_order_pages", help="the customer's order pages (confirm, preview, detail): p99")
def commerce_order_pages(scale=1.0):
    n = max(50, int(500 * scale))
    team, contact = _team("bench-commerce")
    items = [{"name": f"商品 {i}", "quantity": i + 1, "unit_price": "100"} for i in range(5)]
    pages = {}
    for status in ("confirm", "preview", "detail"):
        order = orders.send_order(
            orders.create_order(
                team=team,
                contact=contact,
                items=items,
                payment_choice="cash",
                delivery="shipping",
                shipping_address="台北",
            )
        )
        if status != "confirm":
            order = orders.confirm_order(order, email="bench@example.com")
        if status == "detail":
            order = orders.mark_paid(order, actor="bench")
        pages[status] = (order, f"/order/{links.token_for(order)}/")
    client = Client()
    for status, (order, url) in pages.items():
        assert client.get(url).status_code == 200
        times = []
        for _ in range(n):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        yield figure(f"{status}_page_p99", _p(times, 0.99), "ms", n=n, p50=round(_p(times, 0.5), 2))
        times = []
        for _ in range(n):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT * FROM {Order._meta.db_table} WHERE id = %s AND team_id = %s", [order.pk, team.pk]
                )
                cursor.fetchall()
                cursor.execute(f"SELECT * FROM {OrderItem._meta.db_table} WHERE order_id = %s", [order.pk])
                cursor.fetchall()
            times.append(time.perf_counter() - started)
        yield figure(f"{status}_page_p99", _p(times, 0.99), "ms", n=n, reference="raw_sql")


@benchmark(
    "commerce_orders_api", help="orders created through POST /api/v1/orders from 2 processes", requires_postgres=True
)
def commerce_orders_api(scale=1.0):
    n = max(200, int(4000 * scale))
    for reference, extra in ((None, ()), ("raw_sql", ("--raw",))):
        team, contact = _team("bench-commerce-api")
        half = n // 2
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "commerce.bench_worker", str(team.pk), str(contact.pk), str(half), *extra],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [worker.communicate()[0].split() for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), results
        made = Order.objects.filter(team=team).count()
        assert made == 2 * half, (made, n)
        seconds = max(float(result[1]) for result in results)
        yield figure("orders_per_second", made / seconds, "orders/s", n=made, reference=reference)
