import datetime

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from billing import services


def parse_month(value):
    try:
        return datetime.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"--month must be YYYY-MM, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Make (once per team and month) and email the monthly SMS bill. Without --month: the previous month in each "
        "team's time zone. An already emailed bill is sent again (re-send on demand)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", metavar="YYYY-MM")
        parser.add_argument("--team", metavar="SLUG")

    def handle(self, *args, month=None, team=None, **options):
        month = parse_month(month) if month else None
        teams = Team.objects.all()
        if team:
            teams = teams.filter(slug=team)
            if not teams.exists():
                raise CommandError(f"No team with slug {team!r}.")
        for each in teams.order_by("pk").iterator():
            bill, sent = services.send_monthly_bill(each, month or services.previous_month(each), force=True)
            status = f"emailed to {each.billing_email}" if sent else "not emailed (no billing email)"
            self.stdout.write(
                f"{each.slug} {bill.month:%Y-%m}: {bill.quantity} SMS, {bill.amount} {bill.currency}, {status}"
            )
