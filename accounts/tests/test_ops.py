import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Team


@pytest.mark.django_db
class TestCommands:
    def test_create_team(self):
        out = StringIO()
        call_command("create_team", "acme", name="Acme", timezone="Asia/Hong_Kong", quota=500, stdout=out)
        team = Team.objects.get(slug="acme")
        assert (team.name, team.time_zone, team.contact_quota) == ("Acme", "Asia/Hong_Kong", 500)
        assert out.getvalue().strip() == f"Created team acme (id {team.pk})"

    def test_create_team_rejects_duplicates_and_bad_zones(self):
        call_command("create_team", "acme", name="Acme", stdout=StringIO())
        with pytest.raises(CommandError):
            call_command("create_team", "acme", name="Again", stdout=StringIO())
        with pytest.raises(CommandError, match="time_zone"):
            call_command("create_team", "other", name="X", timezone="Mars/Base", stdout=StringIO())

    def test_create_api_key_prints_key_on_last_line(self, team):
        out = StringIO()
        call_command("create_api_key", team.slug, name="ci", stdout=out)
        raw = out.getvalue().strip().splitlines()[-1]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert client.get("/api/v1/team").json()["slug"] == team.slug

    def test_create_api_key_unknown_team(self):
        with pytest.raises(CommandError):
            call_command("create_api_key", "nope", stdout=StringIO())

    def test_setup_demo_is_idempotent_and_prints_login(self):
        out = StringIO()
        call_command("setup_demo", contacts=50, stdout=out)
        call_command("setup_demo", contacts=50, stdout=StringIO())
        assert Team.objects.filter(slug="demo").count() == 1
        assert "Demo login: demo@example.com" in out.getvalue()

    def test_bench_lists_and_runs(self):
        out = StringIO()
        call_command("bench", "--list", stdout=out)
        assert "api_auth" in out.getvalue()
        out = StringIO()
        call_command("bench", "api_auth", scale=0.05, stdout=out)
        import json

        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert {line["bench"] for line in lines} == {"api_auth"}
        assert any(line.get("reference") == "raw_sql" for line in lines)
        assert all({"figure", "value", "unit", "n"} <= set(line) for line in lines)

    def test_bench_unknown_name(self):
        with pytest.raises(CommandError):
            call_command("bench", "nope", stdout=StringIO())


@pytest.mark.django_db
class TestHealthz:
    def test_degraded_without_worker_heartbeat(self, client):
        with mock.patch("accounts.views.worker_heartbeat", return_value=None):
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "degraded",
            "database": "ok",
            "worker": "no heartbeat",
            "handoff_backlog_seconds": {},
            "oldest_webhook_event_age_seconds": 0.0,
            "queue_depth": 0,
            "queue_depth_by_cluster": {"socialcdp": 0, "socialcdp-heavy": 0},
        }

    def test_ok_with_fresh_heartbeat(self, client):
        with mock.patch("accounts.views.worker_heartbeat", return_value=timezone.now() - timedelta(seconds=3)):
            response = client.get("/healthz")
        assert response.status_code == 200 and response.json()["status"] == "ok"

    def test_stale_heartbeat(self, client):
        with mock.patch("accounts.views.worker_heartbeat", return_value=timezone.now() - timedelta(minutes=5)):
            assert client.get("/healthz").json()["worker"] == "stale"

    def test_a_hand_off_waiting_too_long_means_a_worker_is_behind(self, client, team):
        """The heavy cluster down (or far behind): its consumer's rows age, and /healthz says so."""
        from accounts.models import Handoff

        Handoff.objects.create(
            consumer="analytics.tasks.on_customer_events",
            team=team,
            topic="events",
            payload=[1],
            created_at=timezone.now() - timedelta(minutes=10),
        )
        with mock.patch("accounts.views.worker_heartbeat", return_value=timezone.now()):
            response = client.get("/healthz")
        assert response.status_code == 503 and response.json()["worker"] == "behind"
        assert response.json()["handoff_backlog_seconds"]["analytics.tasks.on_customer_events"] >= 600

    def test_reads_django_q_cluster_stats(self):
        from accounts.views import worker_heartbeat

        stamp = timezone.now()
        with mock.patch("django_q.status.Stat.get_all", return_value=[mock.Mock(timestamp=stamp)]):
            assert worker_heartbeat() == stamp


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        # Browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never has it.
        **{k: v for k, v in os.environ.items() if k not in {"TESTING", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}},
        "DEBUG": "0",
        "SECRET_KEY": "x7Gq9!kLm2@pR4sT6vW8yZ0aB1cD3eF5gH7jK9mN1pQ3rS5tU7",
        "ALLOWED_HOSTS": "cdp.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_without_debug(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "TESTING"}}
    env.update(DEBUG="0", ALLOWED_HOSTS="x")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_migrate_alone_creates_the_database_cache_table(settings):
    """Issue 22.11: an operator who runs `migrate` (no `createcachetable`) gets a working cache-backed server."""
    import importlib

    from django.core.cache import caches
    from django.db import connection

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "scdp_test_cache"}
    }
    try:
        assert "scdp_test_cache" not in connection.introspection.table_names()
        migration = importlib.import_module("accounts.migrations.0005_cache_table")
        with connection.schema_editor() as editor:
            migration.create_cache_table(None, editor)
        assert "scdp_test_cache" in connection.introspection.table_names()
        caches["default"].set("k", "v")
        assert caches["default"].get("k") == "v"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS scdp_test_cache")
