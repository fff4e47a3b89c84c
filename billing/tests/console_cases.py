import datetime

from billing.models import MonthlyBill
from tests.tenancy import console_case


@console_case("billing:bill", "billing:bill-csv")
def bill_urls(team):
    bill, _created = MonthlyBill.objects.get_or_create(
        team=team, month=datetime.date(2026, 10, 1), defaults={"currency": team.currency}
    )
    return {"pk": bill.pk}
