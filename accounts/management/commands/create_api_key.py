from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from accounts.permissions import Role
from accounts.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for a team. The raw key is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="CLI key")
        parser.add_argument("--role", default=Role.ADMIN, choices=Role.values)

    def handle(self, *args, slug, name, role, **options):
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise CommandError(f"No team with slug {slug!r}.")
        new = create_api_key(team=team, name=name, role=role)
        self.stdout.write(f"Created API key {new.api_key.name!r} ({new.api_key.prefix}) for team {team.slug}:")
        self.stdout.write(new.raw_key)
