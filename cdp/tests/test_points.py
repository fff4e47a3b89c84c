"""The points ledger (社群點數): every change is one row, the balance is the ledger's sum, retries change once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.urls import reverse

from cdp.models import Customer, CustomerEvent, EventType, PointsSource, PointsTransaction
from cdp.services import identity
from cdp.services.points import adjust_points
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerFactory
from core.errors import ServiceError

ROOT = Path(__file__).resolve().parents[2]


def ledger_sum(customer):
    return PointsTransaction.objects.filter(customer=customer).aggregate(total=Sum("delta"))["total"] or 0


def assert_adds_up(customer):
    customer.refresh_from_db()
    rows = PointsTransaction.objects.filter(customer=customer)
    assert customer.points_balance == ledger_sum(customer)
    assert customer.points_accumulated == sum(r.delta for r in rows if r.delta > 0)


@pytest.fixture
def customer(team):
    return CustomerFactory(team=team)


@pytest.mark.django_db
class TestLedger:
    def test_each_change_is_one_row_with_the_balance_after(self, customer):
        adjust_points(customer=customer, delta=100, reason="welcome", source=PointsSource.API)
        entry = adjust_points(customer=customer, delta=-30, reason="gift", source=PointsSource.ADMIN)
        assert (customer.points_balance, customer.points_accumulated) == (70, 100)
        assert (entry.delta, entry.balance_after, entry.source, entry.replayed) == (-30, 70, "admin", False)
        assert list(PointsTransaction.objects.order_by("id").values_list("delta", "balance_after")) == [
            (100, 100),
            (-30, 70),
        ]
        event = CustomerEvent.objects.filter(type=EventType.POINTS_CHANGED).latest("id")
        assert event.data["transaction_id"] == entry.pk and event.data["source"] == "admin"
        assert_adds_up(customer)

    def test_a_deduction_below_zero_is_refused_and_writes_nothing(self, customer):
        adjust_points(customer=customer, delta=10, reason="", source=PointsSource.API)
        with pytest.raises(ServiceError) as error:
            adjust_points(customer=customer, delta=-11, reason="", source=PointsSource.API)
        assert error.value.code == "insufficient_points"
        assert PointsTransaction.objects.count() == 1
        assert_adds_up(customer)

    def test_a_team_may_allow_negative_balances(self, team, customer):
        team.points_allow_negative = True
        team.save(update_fields=["points_allow_negative"])
        entry = adjust_points(customer=customer, delta=-5, reason="", source=PointsSource.ORDER)
        assert entry.balance_after == -5
        assert_adds_up(customer)

    @pytest.mark.parametrize(
        "kwargs, code",
        [
            ({"delta": 0}, "invalid_points"),
            ({"delta": 1.5}, "invalid_points"),
            ({"delta": True}, "invalid_points"),
            ({"delta": 1, "source": "bogus"}, "invalid_source"),
            ({"delta": 1, "idempotency_key": "k" * 201}, "invalid_idempotency_key"),
        ],
    )
    def test_bad_changes_are_refused(self, customer, kwargs, code):
        with pytest.raises(ServiceError) as error:
            adjust_points(customer=customer, reason="", **{"source": PointsSource.API, **kwargs})
        assert error.value.code == code
        assert not PointsTransaction.objects.exists()

    def test_the_same_key_changes_once_and_another_change_with_it_is_a_conflict(self, team, customer):
        first = adjust_points(customer=customer, delta=50, reason="", source=PointsSource.API, idempotency_key="k1")
        again = adjust_points(customer=customer, delta=50, reason="", source=PointsSource.API, idempotency_key="k1")
        assert again.pk == first.pk and again.replayed
        assert customer.points_balance == 50 and PointsTransaction.objects.count() == 1
        with pytest.raises(ServiceError) as error:
            adjust_points(customer=customer, delta=51, reason="", source=PointsSource.API, idempotency_key="k1")
        assert error.value.code == "idempotency_conflict" and error.value.status == 409
        other = CustomerFactory(team=team)
        with pytest.raises(ServiceError):
            adjust_points(customer=other, delta=50, reason="", source=PointsSource.API, idempotency_key="k1")
        assert PointsTransaction.objects.count() == 1

    def test_keys_are_per_team(self, customer, other_team):
        adjust_points(customer=customer, delta=5, reason="", source=PointsSource.API, idempotency_key="k")
        theirs = CustomerFactory(team=other_team)
        entry = adjust_points(customer=theirs, delta=5, reason="", source=PointsSource.API, idempotency_key="k")
        assert not entry.replayed and PointsTransaction.objects.count() == 2


@pytest.mark.django_db
class TestMerges:
    def _pair(self, team):
        line = ChannelFactory(team=team, kind="line")
        wa = ChannelFactory(team=team, kind="whatsapp")
        survivor, absorbed = (ContactFactory(channel=channel).customer for channel in (line, wa))
        adjust_points(customer=survivor, delta=10, reason="s", source=PointsSource.API)
        adjust_points(customer=absorbed, delta=5, reason="a", source=PointsSource.API)
        return survivor, absorbed

    def test_merge_keeps_both_histories_and_unmerge_gives_each_its_own(self, team):
        survivor, absorbed = self._pair(team)
        absorbed_rows = set(PointsTransaction.objects.filter(customer=absorbed).values_list("pk", flat=True))
        record = identity.merge_customers(survivor=survivor, absorbed=absorbed, evidence={})
        assert set(PointsTransaction.objects.filter(customer=survivor).values_list("pk", flat=True)) >= absorbed_rows
        assert_adds_up(survivor)
        assert survivor.points_balance == 15
        adjust_points(customer=survivor, delta=-3, reason="spent", source=PointsSource.API)
        survivor, restored = identity.unmerge(merge_record=record)
        assert set(PointsTransaction.objects.filter(customer=restored).values_list("pk", flat=True)) == absorbed_rows
        assert (survivor.points_balance, restored.points_balance) == (7, 5)
        assert_adds_up(survivor)
        assert_adds_up(restored)
        assert not PointsTransaction.objects.filter(source=PointsSource.UNMERGE).exists()

    def test_unmerge_after_spending_the_absorbed_share_keeps_zero_and_records_it(self, team):
        survivor, absorbed = self._pair(team)
        record = identity.merge_customers(survivor=survivor, absorbed=absorbed, evidence={})
        adjust_points(customer=survivor, delta=-14, reason="spent", source=PointsSource.API)
        survivor, restored = identity.unmerge(merge_record=record)
        assert (survivor.points_balance, restored.points_balance) == (0, 5)
        adjustment = PointsTransaction.objects.get(source=PointsSource.UNMERGE)
        assert (adjustment.customer_id, adjustment.delta, adjustment.balance_after) == (survivor.pk, 4, 0)
        assert ledger_sum(survivor) == 0 and ledger_sum(restored) == 5

    def test_unmerge_of_a_merge_made_before_the_ledger_still_adds_up(self, team):
        survivor, absorbed = self._pair(team)
        record = identity.merge_customers(survivor=survivor, absorbed=absorbed, evidence={})
        # A snapshot written before the ledger existed: the absorbed customer's rows never moved.
        PointsTransaction.objects.filter(customer=survivor, reason="a").update(customer=absorbed)
        record.snapshot.pop("points_ids")
        record.save(update_fields=["snapshot"])
        survivor, restored = identity.unmerge(merge_record=record)
        assert (survivor.points_balance, restored.points_balance) == (10, 5)
        assert ledger_sum(survivor) == 10 and ledger_sum(restored) == 5

    def test_a_merged_away_customer_takes_no_new_points(self, team):
        survivor, absorbed = self._pair(team)
        identity.merge_customers(survivor=survivor, absorbed=absorbed, evidence={})
        absorbed.refresh_from_db()
        with pytest.raises(ServiceError) as error:
            adjust_points(customer=absorbed, delta=1, reason="", source=PointsSource.API)
        assert error.value.code == "customer_merged"


@pytest.mark.django_db
class TestApi:
    def url(self, customer):
        return f"/api/v1/customers/{customer.pk}/points"

    def test_post_with_a_key_changes_once_and_get_lists_the_history(self, api, customer):
        body = {"delta": 20, "reason": "promo", "idempotency_key": "order-1"}
        first = api.post(self.url(customer), body, format="json")
        again = api.post(self.url(customer), body, format="json")
        assert first.status_code == again.status_code == 200
        assert first.json()["points_balance"] == again.json()["points_balance"] == 20
        assert first.json()["transaction"]["id"] == again.json()["transaction"]["id"]
        assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
        api.post(self.url(customer), {"delta": -5}, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
        api.post(self.url(customer), {"delta": -5}, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
        history = api.get(self.url(customer)).json()
        assert [(r["delta"], r["balance_after"], r["source"]) for r in history["results"]] == [
            (-5, 15, "api"),
            (20, 20, "api"),
        ]
        assert "next" in history

    def test_conflicts_and_bad_input_change_nothing(self, api, customer):
        api.post(self.url(customer), {"delta": 5, "idempotency_key": "k"}, format="json")
        conflict = api.post(self.url(customer), {"delta": 6, "idempotency_key": "k"}, format="json")
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
        short = api.post(self.url(customer), {"delta": -50}, format="json")
        assert short.status_code == 400 and short.json()["error"]["code"] == "insufficient_points"
        bad = api.post(self.url(customer), {"delta": "lots"}, format="json")
        assert bad.status_code == 400
        assert PointsTransaction.objects.count() == 1

    def test_another_team_cannot_read_or_change_points(self, other_api, customer):
        assert other_api.get(self.url(customer)).status_code == 404
        assert other_api.post(self.url(customer), {"delta": 5}, format="json").status_code == 404
        assert not PointsTransaction.objects.exists()


@pytest.mark.django_db
class TestConsole:
    def test_the_360_page_shows_the_ledger_and_adjusts_once_per_form(self, console, customer):
        adjust_points(customer=customer, delta=40, reason="生日禮", source=PointsSource.JOURNEY)
        page = console.get(reverse("cdp:customer", args=[customer.pk]))
        assert "生日禮" in page.content.decode() and 'data-testid="points-card"' in page.content.decode()
        url = reverse("cdp:customer-points", args=[customer.pk])
        form = {"delta": "-15", "reason": "兌換", "idempotency_key": "console:abc"}
        assert console.post(url, form).status_code == 200
        assert console.post(url, form).status_code == 200  # a double click
        customer.refresh_from_db()
        assert customer.points_balance == 25
        assert PointsTransaction.objects.filter(source=PointsSource.ADMIN).count() == 1

    @pytest.mark.parametrize("delta", ["", "abc", "1.5", "0", "-999"])
    def test_bad_amounts_show_an_error_and_change_nothing(self, console, customer, delta):
        response = console.post(reverse("cdp:customer-points", args=[customer.pk]), {"delta": delta})
        assert response.status_code == 400 and 'role="alert"' in response.content.decode()
        assert not PointsTransaction.objects.exists()

    def test_another_teams_customer_is_not_found(self, console, other_team):
        theirs = CustomerFactory(team=other_team)
        response = console.post(reverse("cdp:customer-points", args=[theirs.pk]), {"delta": "5"})
        assert response.status_code == 404
        assert not PointsTransaction.objects.exists()

    def test_admin_shows_the_ledger_read_only(self, client, customer, django_user_model):
        adjust_points(customer=customer, delta=3, reason="", source=PointsSource.API)
        admin = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
        client.force_login(admin)
        assert client.get("/admin/cdp/pointstransaction/").status_code == 200
        assert client.get("/admin/cdp/pointstransaction/add/").status_code == 403
        entry = PointsTransaction.objects.get()
        assert client.post(f"/admin/cdp/pointstransaction/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
        assert PointsTransaction.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (two processes, row locks)")
@pytest.mark.django_db(transaction=True)
def test_two_processes_changing_one_balance_keep_it_equal_to_the_ledger(team):
    customer = CustomerFactory(team=team)
    adjust_points(customer=customer, delta=1000, reason="start", source=PointsSource.API)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    script = (
        "import django, sys; django.setup()\n"
        "from cdp.models import Customer\n"
        "from cdp.services.points import adjust_points\n"
        "c = Customer.objects.get(pk=int(sys.argv[1]))\n"
        "for i in range(150):\n"
        "    adjust_points(customer=c, delta=(3 if i % 2 else -2), reason=sys.argv[2], source='api',\n"
        "                  idempotency_key=f'{sys.argv[2]}-{i}')\n"
        "    if i % 10 == 0:  # a retry of an earlier change: counted once\n"
        "        adjust_points(customer=c, delta=(3 if i % 2 else -2), reason=sys.argv[2], source='api',\n"
        "                      idempotency_key=f'{sys.argv[2]}-{i}')\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(customer.pk), name], cwd=ROOT, env=env)
        for name in ("p1", "p2")
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    customer = Customer.objects.get(pk=customer.pk)
    assert PointsTransaction.objects.filter(customer=customer).count() == 1 + 300
    assert customer.points_balance == ledger_sum(customer) == 1000 + 2 * (75 * 3 - 75 * 2)
    balances = list(PointsTransaction.objects.filter(customer=customer).order_by("id").values_list("balance_after"))
    running = 0
    for delta, after in (
        PointsTransaction.objects.filter(customer=customer).order_by("id").values_list("delta", "balance_after")
    ):
        running += delta
        assert after == running  # each row's balance follows the one before: no lost update
    assert len(balances) == 301


@pytest.mark.django_db
class TestOrderRule:
    def test_a_checkout_earns_points_once_by_the_teams_rule(self, team, api):
        from cdp.services.customers import record_checkout

        team.points_per_order_amount = 100
        team.save(update_fields=["points_per_order_amount"])
        customer = CustomerFactory(team=team)
        record_checkout(customer=customer, order_id="A-1", amount="1250", currency=team.currency)
        record_checkout(customer=customer, order_id="A-2", amount="99", currency=team.currency)  # under the rule
        record_checkout(customer=customer, order_id="A-3", amount="5000", currency="USD")  # another currency
        entry = PointsTransaction.objects.get()
        assert (entry.delta, entry.source, entry.reason, entry.idempotency_key) == (12, "order", "A-1", "order:A-1")
        assert_adds_up(customer)
        # A caller's own key never collides with the product's: "order:A-1" from the API is its own change.
        response = api.post(
            f"/api/v1/customers/{customer.pk}/points", {"delta": 1, "idempotency_key": "order:A-1"}, format="json"
        )
        assert response.status_code == 200 and not response.json()["replayed"]

    def test_no_rule_no_points(self, team):
        from cdp.services.customers import record_checkout

        customer = CustomerFactory(team=team)
        record_checkout(customer=customer, order_id="B-1", amount="1000", currency=team.currency)
        assert not PointsTransaction.objects.exists()
