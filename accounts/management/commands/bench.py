import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.benchmarks import registry


class Command(BaseCommand):
    help = "Run benchmarks (all when none is named). Prints one JSON object per figure per line."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*")
        parser.add_argument("--list", action="store_true", help="List the registered benchmarks.")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="Multiply the data sizes (e.g. 0.01 to smoke-test)."
        )

    def handle(self, *args, names, list, scale, **options):
        benchmarks = registry()
        if list:
            for name, bench in benchmarks.items():
                self.stdout.write(f"{name}\t{bench.help}")
            return
        unknown = [n for n in names if n not in benchmarks]
        if unknown:
            raise CommandError(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(benchmarks)}")
        # Benchmarks drive the app in-process through Django's test client, whose host is "testserver".
        if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        for name in names or benchmarks:
            bench = benchmarks[name]
            if bench.requires_postgres and not settings.IS_POSTGRES:
                self.stderr.write(f"{name}: skipped (needs PostgreSQL: set DATABASE_URL)")
                continue
            for fig in bench.func(scale=scale):
                self.stdout.write(json.dumps({"bench": name, **fig}, ensure_ascii=False))
                sys.stdout.flush()
