from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from accounts.models import Team
from accounts.services import create_team, ensure_demo_login


class Command(BaseCommand):
    help = "Create the demo team and login if missing, and load demo data (seed_demo) into an empty demo team."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=5000)

    def handle(self, *args, contacts, **options):
        team = Team.objects.filter(slug="demo").first()
        if team is None:
            team = create_team(slug="demo", name="Demo Brand 示範品牌", time_zone="Asia/Taipei", contact_quota=20000)
            team.billing_email = "billing@example.com"
            team.save(update_fields=["billing_email"])
        user, password = ensure_demo_login(team=team)
        if "seed_demo" in get_commands() and not _has_demo_data(team):
            call_command("seed_demo", team=team.slug, contacts=contacts, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo login: " + user.username))
        if password:
            self.stdout.write(self.style.SUCCESS("Password:   " + password))
        else:
            self.stdout.write("Password:   (unchanged since it was first created: demo-password-2026)")


def _has_demo_data(team):
    from django.apps import apps

    try:
        Contact = apps.get_model("cdp", "Contact")
    except LookupError:
        return False
    return Contact.objects.filter(team=team).exists()
