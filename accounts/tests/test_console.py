from datetime import UTC, datetime

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, Membership
from accounts.services import create_api_key
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.mark.django_db
class TestShell:
    def test_login_page_renders_in_both_languages(self, client):
        zh = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
        assert "登入您的帳號" in zh
        client.cookies.load({"django_language": "en"})
        en = client.get(reverse("login")).content.decode()
        assert "Sign in to your account" in en

    def test_login_with_real_form_then_shell_has_menu(self, client, team):
        user = MembershipFactory(team=team, role="owner").user
        response = client.post(reverse("login"), {"username": user.username, "password": "pw-for-tests-123"})
        assert response.status_code == 302
        html = client.get("/").content.decode()
        for label in ["顧客", "分析", "受眾包", "推播", "顧客旅程", "OmniLink", "帳戶與帳單", "設定"]:
            assert label in html
        assert team.name in html

    def test_wrong_password_shows_an_error(self, client, team):
        user = MembershipFactory(team=team).user
        response = client.post(reverse("login"), {"username": user.username, "password": "nope"})
        assert response.status_code == 200
        assert "flash-error" in response.content.decode()

    def test_anonymous_is_sent_to_login(self, client):
        response = client.get("/")
        assert response.status_code == 302 and reverse("login") in response["Location"]

    def test_english_shell(self, console):
        console.post(reverse("set_language"), {"language": "en", "next": "/"})
        html = console.get("/").content.decode()
        assert "Customers" in html and "Journeys" in html and "Settings" in html

    def test_user_without_team_gets_a_clear_page(self, client):
        client.force_login(UserFactory())
        response = client.get("/")
        assert response.status_code == 403
        assert "尚未加入任何團隊" in response.content.decode()

    def test_password_reset_sends_mail(self, client, team):
        user = MembershipFactory(team=team).user
        response = client.post(reverse("password_reset"), {"email": user.email})
        assert response.status_code == 302
        assert len(mail.outbox) == 1 and "/accounts/reset/" in mail.outbox[0].body


@pytest.mark.django_db
class TestTeamSwitcher:
    def test_switch_between_own_teams(self, client, team, other_team):
        user = MembershipFactory(team=team, role="owner").user
        Membership.objects.create(team=other_team, user=user, role="marketer")
        client.force_login(user)
        assert team.name in client.get("/").content.decode()
        response = client.post(reverse("switch-team"), {"team": other_team.pk, "next": "/"})
        assert response.status_code == 302
        html = client.get("/").content.decode()
        assert f'value="{other_team.pk}" selected' in html

    def test_cannot_switch_into_a_team_you_are_not_in(self, console, other_team):
        response = console.post(reverse("switch-team"), {"team": other_team.pk})
        assert response.status_code == 404


@pytest.mark.django_db
class TestSettings:
    def test_create_key_shows_it_once_then_revoke(self, console, team):
        response = console.post(
            reverse("api-key-create"), {"key-name": "Shopline", "key-role": "admin"}, HTTP_HX_REQUEST="true"
        )
        html = response.content.decode()
        assert response.status_code == 200 and 'data-testid="new-api-key"' in html and "<html" not in html
        key = ApiKey.objects.get(team=team, name="Shopline")
        assert "scdp_" + key.prefix in html
        again = console.get(reverse("team-settings")).content.decode()
        assert "new-api-key" not in again
        console.post(reverse("api-key-revoke", args=[key.pk]), HTTP_HX_REQUEST="true")
        key.refresh_from_db()
        assert key.revoked_at is not None

    def test_cannot_revoke_another_teams_key(self, console, other_team):
        from accounts.services import create_api_key

        key = create_api_key(team=other_team, name="theirs").api_key
        assert console.post(reverse("api-key-revoke", args=[key.pk])).status_code == 404
        key.refresh_from_db()
        assert key.revoked_at is None

    def test_cannot_remove_another_teams_member(self, console, other_team):
        member = MembershipFactory(team=other_team)
        assert console.post(reverse("member-remove", args=[member.pk])).status_code == 404
        assert Membership.objects.filter(pk=member.pk).exists()

    def test_last_owner_cannot_be_removed(self, client, team):
        owner = MembershipFactory(team=team, role="owner")
        admin = MembershipFactory(team=team, role="admin")
        client.force_login(admin.user)
        response = client.post(reverse("member-remove", args=[owner.pk]))
        assert response.status_code == 400
        assert Membership.objects.filter(pk=owner.pk).exists()

    def test_save_team_settings_validates(self, console, team):
        data = {
            "name": "Renamed",
            "time_zone": "Asia/Hong_Kong",
            "currency": "HKD",
            "default_region": "HK",
            "line_message_cost": "0.2",
            "whatsapp_message_cost": "-1",
            "attribution_window_days": "7",
        }
        response = console.post(reverse("team-settings"), data)
        assert response.status_code == 200
        team.refresh_from_db()
        assert team.name == "Team A"
        data["whatsapp_message_cost"] = "0.5"
        assert console.post(reverse("team-settings"), data).status_code == 302
        team.refresh_from_db()
        assert team.name == "Renamed" and team.time_zone == "Asia/Hong_Kong"

    def test_exchange_rates_setting(self, console, team):
        """Issue 24.4: the rates ROAS uses across currencies, one line each; a bad line is refused, nothing saved."""
        data = {
            "name": "Team A",
            "time_zone": "Asia/Taipei",
            "currency": "TWD",
            "default_region": "TW",
            "line_message_cost": "0.2",
            "whatsapp_message_cost": "0.5",
            "attribution_window_days": "7",
        }
        for bad, message in (
            ("HKD abc", "HKD 的匯率需為大於 0 的數字"),
            ("HKD 0", "HKD 的匯率需為大於 0 的數字"),
            ("HK 4", "幣別需為三個大寫英文字母"),
            ("HKD", "請寫成「幣別 匯率」"),
        ):
            response = console.post(reverse("team-settings"), {**data, "exchange_rates": bad})
            assert response.status_code == 200 and message in response.content.decode(), bad
            team.refresh_from_db()
            assert team.exchange_rates == {}
        response = console.post(reverse("team-settings"), {**data, "exchange_rates": "hkd 4.050\nUSD=1E+1\n\n"})
        assert response.status_code == 302
        team.refresh_from_db()
        assert team.exchange_rates == {"HKD": "4.05", "USD": "10"}  # plain decimals, never "1E+1"
        assert "HKD 4.05\nUSD 10" in console.get(reverse("team-settings")).content.decode()

    def test_add_member_by_email(self, console, team):
        newcomer = UserFactory(username="new@example.com")
        console.post(reverse("member-add"), {"member-email": "NEW@example.com", "member-role": "agent"})
        assert Membership.objects.get(team=team, user=newcomer).role == "agent"


@pytest.mark.django_db
def test_other_team_data_never_in_the_shell(console):
    TeamFactory(slug="secret-team", name="Secret Competitor")
    assert "Secret Competitor" not in console.get("/").content.decode()


@pytest.mark.django_db
def test_console_shows_times_in_the_team_time_zone(console, team):
    """The current team's zone is active for the whole request (middleware), not template by template."""
    team.time_zone = "Asia/Taipei"
    team.save()
    key = create_api_key(team=team, name="shop").api_key
    key.last_used_at = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    key.save(update_fields=["last_used_at"])
    html = console.get(reverse("team-settings")).content.decode()
    assert "2026-06-01 12:00" in html and "2026-06-01 04:00" not in html

    team.time_zone = "America/New_York"
    team.save()
    html = console.get(reverse("team-settings")).content.decode()
    assert "2026-06-01 00:00" in html
