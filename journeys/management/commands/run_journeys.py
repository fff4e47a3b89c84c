"""`manage.py run_journeys`: a dedicated journey engine worker (claim → process loop, sweeping stale claims).

The django-q2 schedule already runs the engine every minute; run this for continuous low-latency processing
(any number of copies: they share work through SELECT ... FOR UPDATE SKIP LOCKED).
"""

import logging
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from journeys import engine

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the journey engine: claim due enrollments in batches and advance them."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=500)
        parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0 = forever)")
        parser.add_argument("--exit-when-idle", action="store_true")

    def handle(self, *args, batch, seconds, exit_when_idle, **options):
        deadline = time.monotonic() + seconds if seconds else None
        steps = 0
        last_sweep = 0.0
        while deadline is None or time.monotonic() < deadline:
            if time.monotonic() - last_sweep > 10:
                engine.sweep()
                last_sweep = time.monotonic()
            try:
                done = engine.run_batch(batch)
            except DatabaseError:  # e.g. the database restarting: the claims expire and are swept
                logger.exception("Journey engine batch failed")
                time.sleep(1)
                continue
            steps += done
            if not done:
                if exit_when_idle:
                    break
                time.sleep(0.2)
        self.stdout.write(f"steps={steps}")
