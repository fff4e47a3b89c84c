"""manage.py rebuild_analytics [--team SLUG] [--verify]: recompute the analytics rollups from scratch.

Idempotent: it deletes and rewrites each team's rollups in one transaction from cdp's events and bindings.
--verify (alone, or after the rebuild) compares the stored rollups with a fresh recompute and with direct counts
of the contact and customer tables, prints every difference and exits non-zero when there is one.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from analytics import rollups


class Command(BaseCommand):
    help = "Recompute the analytics rollups from recorded events (all teams, or one with --team)."

    def add_arguments(self, parser):
        parser.add_argument("--team", help="Team slug (default: every team).")
        parser.add_argument("--verify", action="store_true", help="Check the rollups against direct counts.")
        parser.add_argument("--verify-only", action="store_true", help="Only check; do not rebuild.")

    def handle(self, *args, team=None, verify=False, verify_only=False, **options):
        teams = Team.objects.order_by("pk")
        if team:
            teams = teams.filter(slug=team)
            if not teams.exists():
                raise CommandError(f"No team with slug {team!r}.")
        problems = []
        for current in teams:
            if not verify_only:
                started = time.perf_counter()
                rows = rollups.rebuild(current)
                self.stdout.write(
                    f"{current.slug}: {len(rows.channel_days)} channel-days, {len(rows.source_days)} source-days, "
                    f"{len(rows.binding_days)} binding-days in {time.perf_counter() - started:.2f}s"
                )
            if verify or verify_only:
                found = rollups.verify(current)
                for problem in found:
                    self.stdout.write(f"{current.slug}: {problem}")
                if not found:
                    self.stdout.write(f"{current.slug}: rollups agree with a direct count")
                problems += found
        if problems:
            raise CommandError(f"{len(problems)} difference(s) between rollups and direct counts.")
