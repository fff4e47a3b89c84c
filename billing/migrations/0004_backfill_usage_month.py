"""Fill the monthly usage rollup (UsageMonth) from the existing ledger: Σ quantity and −Σ amount of the rows with a
product, per team-local month, product, feature and channel. On PostgreSQL one INSERT … SELECT … GROUP BY over
the ledger joined to the team's time zone; elsewhere (SQLite) the same GROUP BY per team through the ORM."""

import zoneinfo
from decimal import Decimal

from django.db import migrations
from django.db.models import Sum
from django.db.models.functions import TruncMonth


def backfill(apps, schema_editor):
    Transaction = apps.get_model("billing", "Transaction")
    UsageMonth = apps.get_model("billing", "UsageMonth")
    Team = apps.get_model("accounts", "Team")
    connection = schema_editor.connection
    UsageMonth.objects.all().delete()
    if connection.vendor == "postgresql":
        usage, ledger, team = UsageMonth._meta.db_table, Transaction._meta.db_table, Team._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {usage} (team_id, month, product, feature, channel, quantity, amount) "
                f"SELECT l.team_id, date_trunc('month', l.created_at AT TIME ZONE t.time_zone)::date, l.product, "
                "l.feature, l.channel, SUM(l.quantity), -SUM(l.amount) "
                f"FROM {ledger} l JOIN {team} t ON t.id = l.team_id WHERE l.product <> '' "
                "GROUP BY 1, 2, 3, 4, 5"
            )
        return
    for team in Team.objects.filter(pk__in=Transaction.objects.values("team_id")).iterator():
        rows = (
            Transaction.objects.filter(team=team)
            .exclude(product="")
            .annotate(month=TruncMonth("created_at", tzinfo=zoneinfo.ZoneInfo(team.time_zone)))
            .values("month", "product", "feature", "channel")
            .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
            .order_by()
        )
        UsageMonth.objects.bulk_create(
            [
                UsageMonth(
                    team=team,
                    month=row["month"].date() if hasattr(row["month"], "date") else row["month"],
                    product=row["product"],
                    feature=row["feature"],
                    channel=row["channel"],
                    quantity=row["quantity"] or 0,
                    amount=-Decimal(str(row["amount"] or 0)),
                )
                for row in rows
            ],
            batch_size=2000,
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_usage_month")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
