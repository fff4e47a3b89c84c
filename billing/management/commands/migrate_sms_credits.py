from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from billing import services


class Command(BaseCommand):
    help = "Turn legacy SMS credits 1:1 into account balance (one 餘額調整 「SMS 簡訊餘額移轉」 per team). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--team", metavar="SLUG", help="only this team")

    def handle(self, *args, team=None, **options):
        teams = Team.objects.all()
        if team:
            teams = teams.filter(slug=team)
            if not teams.exists():
                raise CommandError(f"No team with slug {team!r}.")
        migrated = 0
        for each in teams.order_by("pk").iterator():
            txn = services.migrate_sms_credits(each, actor="migrate_sms_credits")
            if txn is not None:
                migrated += 1
                self.stdout.write(f"{each.slug}: +{txn.amount} (balance {txn.balance_after})")
        self.stdout.write(f"{migrated} team(s) migrated.")
