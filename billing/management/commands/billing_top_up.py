import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from billing import services
from billing.models import TransactionType


class Command(BaseCommand):
    help = "Top up a team's account balance (儲值): billing_top_up SLUG AMOUNT [--note TEXT]."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("amount")
        parser.add_argument("--note", default="")

    def handle(self, *args, slug, amount, note, **options):
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise CommandError(f"No team with slug {slug!r}.")
        try:
            txn = services.credit(
                team,
                amount,
                type=TransactionType.TOP_UP,
                idempotency_key=f"top_up:{uuid.uuid4()}",
                note=note,
                actor="billing_top_up",
            )
        except services.BillingError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{team.slug}: +{txn.amount} {team.currency}, balance {txn.balance_after}")
