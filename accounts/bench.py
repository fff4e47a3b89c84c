"""Foundation benchmark: API-key authentication, the per-request cost every API call pays."""

from django.db import connection
from rest_framework.test import APIClient

from core.benchmarks import Timer, benchmark, figure

from .models import Team
from .services import create_api_key, create_team


@benchmark("api_auth", help="GET /api/v1/team with a Bearer key: full request vs the raw key lookup")
def api_auth(scale=1.0):
    n = max(50, int(1000 * scale))
    team = Team.objects.filter(slug="bench-auth").first() or create_team(slug="bench-auth", name="Bench auth")
    raw_key = create_api_key(team=team, name="bench").raw_key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    client.get("/api/v1/team")
    timer = Timer()
    for _ in range(n):
        with timer:
            response = client.get("/api/v1/team")
        assert response.status_code == 200, response.content[:300]
    yield figure("request_p50", timer.median * 1000, "ms", n=n)
    yield figure("request_p95", timer.p(95) * 1000, "ms", n=n)
    prefix = raw_key.split("_")[1]
    ref = Timer()
    with connection.cursor() as cursor:
        for _ in range(n):
            with ref:
                cursor.execute(
                    "SELECT k.id, k.key_hash, t.id, t.slug FROM accounts_apikey k "
                    "JOIN accounts_team t ON t.id = k.team_id WHERE k.prefix = %s AND k.revoked_at IS NULL",
                    [prefix],
                )
                cursor.fetchall()
    yield figure("request_p50", ref.median * 1000, "ms", n=n, reference="raw_sql")
