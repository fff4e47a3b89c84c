from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from accounts.services import create_team


class Command(BaseCommand):
    help = "Create a team (tenant). Output: 'Created team SLUG (id N)'."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="Asia/Taipei")
        parser.add_argument("--quota", type=int, default=None)

    def handle(self, *args, slug, name, timezone, quota, **options):
        if Team.objects.filter(slug=slug).exists():
            raise CommandError(f"A team with slug {slug!r} already exists.")
        try:
            team = create_team(slug=slug, name=name, time_zone=timezone, contact_quota=quota)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"Created team {team.slug} (id {team.pk})")
