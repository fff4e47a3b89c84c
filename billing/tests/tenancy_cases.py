import datetime

from billing import services
from billing.models import MonthlyBill, TransactionType
from tests.tenancy import tenancy_case


@tenancy_case("billing-transaction")
def make_transaction(team):
    return services.credit(team, 10, type=TransactionType.TOP_UP, idempotency_key="tenancy-top-up")


@tenancy_case("billing-bill")
def make_bill(team):
    return MonthlyBill.objects.create(team=team, month=datetime.date(2026, 10, 1), currency=team.currency)
