"""Sign-in and password-reset throttling: per account (email) and per address, a lockout that expires, a clear
message in both languages, and the right password refused while locked."""

import time

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import MembershipFactory, UserFactory

PASSWORD = "pw-for-tests-123"
LOCKED_ZH = "登入失敗次數過多"
LOCKED_EN = "Too many failed sign-in attempts"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_IP = 5
    settings.LOGIN_LOCKOUT_SECONDS = 900
    settings.PASSWORD_RESETS_PER_EMAIL = 2
    settings.PASSWORD_RESETS_PER_IP = 4
    settings.PASSWORD_RESET_WINDOW_SECONDS = 3600


def _login(client, username, password, ip="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def user(team):
    return MembershipFactory(team=team, role="owner").user


@pytest.mark.django_db
class TestLogin:
    def test_the_right_password_is_refused_while_the_account_is_locked(self, client, user):
        """The reported bug: 30 wrong passwords, then the right one worked at once."""
        for _ in range(2):
            response = _login(client, user.username, "wrong")
            assert response.status_code == 200 and LOCKED_ZH not in response.content.decode()
        third = _login(client, user.username, "wrong")
        assert LOCKED_ZH in third.content.decode()
        response = _login(client, user.username, PASSWORD)
        assert response.status_code == 200 and LOCKED_ZH in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_the_lock_is_per_account_from_any_address(self, client, user):
        for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            _login(client, user.username.upper(), "wrong", ip=ip)
        assert LOCKED_ZH in _login(client, user.username, PASSWORD, ip="10.0.0.9").content.decode()

    def test_the_lock_is_per_address_across_accounts(self, client, user):
        for n in range(5):
            _login(client, f"nobody{n}@example.com", "wrong", ip="10.0.0.7")
        assert LOCKED_ZH in _login(client, user.username, PASSWORD, ip="10.0.0.7").content.decode()
        assert _login(client, user.username, PASSWORD, ip="10.0.0.8").status_code == 302

    def test_the_lock_expires(self, client, user, settings):
        settings.LOGIN_LOCKOUT_SECONDS = 1
        for _ in range(3):
            _login(client, user.username, "wrong")
        assert LOCKED_ZH in _login(client, user.username, PASSWORD).content.decode()
        time.sleep(1.1)
        assert _login(client, user.username, PASSWORD).status_code == 302

    def test_a_successful_sign_in_clears_the_accounts_failures(self, client, user):
        for _ in range(2):
            _login(client, user.username, "wrong")
        assert _login(client, user.username, PASSWORD).status_code == 302
        client.logout()
        for _ in range(2):
            _login(client, user.username, "wrong")
        assert _login(client, user.username, PASSWORD).status_code == 302

    def test_the_message_in_english(self, client, user):
        client.cookies.load({"django_language": "en"})
        for _ in range(3):
            _login(client, user.username, "wrong")
        html = _login(client, user.username, PASSWORD).content.decode()
        assert LOCKED_EN in html and "15 min" in html

    def test_django_admin_sign_in_is_throttled_too(self, client):
        staff = UserFactory(is_staff=True, is_superuser=True)
        url = reverse("admin:login")
        for _ in range(3):
            client.post(url, {"username": staff.username, "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
        response = client.post(url, {"username": staff.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 200 and LOCKED_ZH in response.content.decode()

    def test_the_address_is_read_through_the_declared_proxies(self, client, user, settings):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
        for n in range(5):
            client.post(
                reverse("login"),
                {"username": f"nobody{n}@example.com", "password": "wrong"},
                REMOTE_ADDR="10.9.9.9",
                HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.5",
            )
        locked = client.post(
            reverse("login"),
            {"username": user.username, "password": PASSWORD},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5",
        )
        assert LOCKED_ZH in locked.content.decode()
        other_client = client.post(
            reverse("login"),
            {"username": user.username, "password": PASSWORD},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR="203.0.113.6",
        )
        assert other_client.status_code == 302


@pytest.mark.django_db
class TestPasswordReset:
    def _reset(self, client, email, ip="10.0.0.1"):
        return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=ip)

    def test_limited_per_email(self, client, user):
        assert [self._reset(client, user.email).status_code for _ in range(2)] == [302, 302]
        response = self._reset(client, user.email.upper(), ip="10.0.0.2")
        assert response.status_code == 200 and "重設密碼的申請次數過多" in response.content.decode()
        assert len(mail.outbox) == 2

    def test_limited_per_address(self, client, user):
        for n in range(4):
            assert self._reset(client, f"someone{n}@example.com").status_code == 302
        assert self._reset(client, user.email).status_code == 200
        assert mail.outbox == []
        assert self._reset(client, user.email, ip="10.0.0.2").status_code == 302
        assert len(mail.outbox) == 1

    def test_the_message_in_english(self, client, user):
        client.cookies.load({"django_language": "en"})
        for _ in range(2):
            self._reset(client, user.email)
        assert "Too many password reset requests" in self._reset(client, user.email).content.decode()
