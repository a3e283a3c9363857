"""Signing in to the Django admin: the API's login limiter and the second factor.

Everything goes through the real admin login page (``/admin/login/`` on
``django.contrib.admin.site``, as a host project mounts it) and the API's
``POST /auth/login/``; TOTP codes are computed independently with pyotp.
"""

from __future__ import annotations

import time
from base64 import b32encode

import pyotp
import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import path
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from secureauth.admin import (
    SecureAuthAdminAuthenticationForm,
    SecureAuthAdminSite,
    install_admin_login,
)
from secureauth.crypto import recovery_code_digest
from secureauth.models import AuditEvent, SealedTOTPDevice
from tests.conftest import PASSWORD
from tests.servers import free_port

WRONG = "not the password"
ADMIN_IP = "203.0.113.7"  # the admin is used from elsewhere than the API: the email key decides
API_IP = "198.51.100.1"

custom_site = SecureAuthAdminSite(name="custom_admin")
urlpatterns = [path("custom-admin/", custom_site.urls), path("admin/", admin.site.urls)]


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    """django-otp's per-device backoff would only add waits between these attempts."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def staff(db):
    """A staff user whose username is not its email: the limiter must find the email."""
    return get_user_model().objects.create_user(
        username="boss", email="boss@example.com", password=PASSWORD, is_staff=True
    )


class Authenticator:
    """The staff member's phone: the current TOTP code of a device, each step used once."""

    def __init__(self, device: TOTPDevice) -> None:
        self.totp = pyotp.TOTP(b32encode(device.bin_key).decode("ascii"))
        self.last_step = -1

    def code(self) -> str:
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return self.totp.at(step * 30)


def enable_second_factor(user) -> tuple[TOTPDevice, Authenticator, list[str]]:
    """TOTP and recovery codes, stored as SecureAuth stores them (the seed sealed, codes
    as keyed hashes)."""
    device = SealedTOTPDevice.objects.create_sealed(
        user=user, name="Authenticator app", confirmed=True, tolerance=1
    )
    codes = [StaticToken.random_token() for _ in range(3)]
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    for code in codes:
        StaticToken.objects.create(device=static, token=recovery_code_digest(code))
    return device, Authenticator(device), codes


def admin_login(client, username, password=PASSWORD, code=None, prefix="/admin/", ip=ADMIN_IP):
    data = {"username": username, "password": password, "next": prefix}
    if code is not None:
        data["otp_token"] = code
    return client.post(f"{prefix}login/", data, REMOTE_ADDR=ip)


def api_login(password=PASSWORD, email="boss@example.com"):
    return APIClient().post(
        "/auth/login/", {"email": email, "password": password}, format="json", REMOTE_ADDR=API_IP
    )


def signed_in(client, prefix="/admin/") -> bool:
    """Whether ``client`` holds an admin session (the index answers instead of redirecting)."""
    return "_auth_user_id" in client.session and client.get(prefix).status_code == 200


def assert_refused(response, message: str, status: int = 200) -> None:
    assert response.status_code == status, response.content
    assert message in response.content.decode()


def events(name: str):
    return AuditEvent.objects.filter(event=name, detail__method="admin")


# --- (a), (b) one limiter for the API and the admin ---------------------------------


def test_a_lock_earned_on_the_api_refuses_the_admin_too(staff):
    for _ in range(5):
        api_login(WRONG)
    assert api_login().status_code == 429
    client = Client()
    response = admin_login(client, "boss")
    assert_refused(response, "Too many attempts, try again in", status=429)
    assert int(response["Retry-After"]) >= 1
    assert not signed_in(client)


def test_wrong_admin_passwords_lock_the_api_login(staff):
    client = Client()
    for _ in range(5):
        assert_refused(admin_login(client, "boss", WRONG), "Please enter the correct username")
    assert api_login().status_code == 429
    assert_refused(admin_login(client, "boss"), "Too many attempts", status=429)
    assert not signed_in(client)
    assert events("login_failed").filter(user=staff).count() == 5
    assert events("login_rate_limited").count() == 1  # one event per lock, not per refusal


def test_unknown_usernames_are_counted_under_what_was_typed(db):
    client = Client()
    for _ in range(5):
        admin_login(client, "nobody@example.com", WRONG)
    assert_refused(admin_login(client, "nobody@example.com"), "Too many attempts", status=429)
    assert api_login(email="nobody@example.com").status_code == 429


def test_a_right_password_clears_the_email_count(staff):
    client = Client()
    for _ in range(4):
        admin_login(client, "boss", WRONG)
    assert admin_login(client, "boss").status_code == 302
    for _ in range(4):  # from another address, so that only the email's count matters
        admin_login(Client(), "boss", WRONG, ip="203.0.113.8")
    assert api_login().status_code == 200  # 4 failures since the success: not locked


def test_the_limiter_cache_down_is_a_form_error_not_a_500(staff):
    dead = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    client = Client()
    with override_settings(CACHES=dead):
        response = admin_login(client, "boss")
    assert_refused(response, "Signing in is unavailable right now", status=503)
    assert "_auth_user_id" not in client.session


# --- (c) the second factor ----------------------------------------------------------


def test_a_user_with_totp_needs_the_code(staff):
    enable_second_factor(staff)
    client = Client()
    response = admin_login(client, "boss")
    assert_refused(response, "This account has two-factor authentication")
    assert not signed_in(client)
    assert not events("login_failed").exists()  # a missing code is a question, not a failure


def test_password_and_current_code_sign_in_once(staff):
    device, phone, _ = enable_second_factor(staff)
    client = Client()
    code = phone.code()
    response = admin_login(client, "boss", code=code)
    assert response.status_code == 302, response.content
    assert signed_in(client)
    # django_otp.login ran: with OTPMiddleware, request.user.is_verified() holds.
    assert client.session["otp_device_id"] == device.persistent_id
    assert events("login_succeeded").get(user=staff).detail["amr"] == ["pwd", "otp"]

    replay = Client()
    assert_refused(admin_login(replay, "boss", code=code), "That one-time code is not valid")
    assert not signed_in(replay)


def test_a_wrong_code_is_a_failure(staff):
    _, phone, _ = enable_second_factor(staff)
    client = Client()
    for _ in range(5):
        assert_refused(admin_login(client, "boss", code="000000"), "not valid")
    assert events("mfa_failed").filter(user=staff).count() == 5
    # Locked now, for the right code as for the API's password.
    assert_refused(admin_login(client, "boss", code=phone.code()), "Too many", status=429)
    assert api_login().status_code == 429
    assert not signed_in(client)


def test_a_throttled_device_is_a_form_error_not_a_500(staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # after one wrong code, a minute's wait
    _, phone, _ = enable_second_factor(staff)
    client = Client()
    admin_login(client, "boss", code="000000")
    response = admin_login(client, "boss", code=phone.code())
    assert_refused(response, "Too many attempts, try again in", status=429)
    assert not signed_in(client)
    assert events("mfa_failed").filter(detail__reason="throttled").count() == 1


def test_a_wrong_password_with_a_right_code_is_refused(staff):
    _, phone, _ = enable_second_factor(staff)
    client = Client()
    assert_refused(admin_login(client, "boss", WRONG, code=phone.code()), "correct username")
    assert not signed_in(client)


def test_a_recovery_code_works_once(staff):
    _, _, codes = enable_second_factor(staff)
    first = Client()
    assert admin_login(first, "boss", code=codes[0].upper()).status_code == 302
    assert signed_in(first)
    again = Client()
    assert_refused(admin_login(again, "boss", code=codes[0]), "That one-time code is not valid")
    assert not signed_in(again)
    assert StaticToken.objects.filter(device__user=staff).count() == len(codes) - 1


def test_an_unconfirmed_device_asks_for_nothing(staff):
    TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=False)
    client = Client()
    assert admin_login(client, "boss").status_code == 302
    assert signed_in(client)


# --- (d) no second factor, and who may not sign in at all ---------------------------


def test_staff_without_a_second_factor_sign_in_with_the_password(staff):
    client = Client()
    response = admin_login(client, "boss")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert signed_in(client)
    succeeded = events("login_succeeded").get(user=staff)
    assert succeeded.ip == ADMIN_IP
    assert succeeded.detail["amr"] == ["pwd"]


def test_a_non_staff_user_with_the_right_password_is_refused(make_user):
    make_user("alice@example.com")
    client = Client()
    assert_refused(admin_login(client, "alice@example.com"), "Please enter the correct username")
    assert "_auth_user_id" not in client.session
    assert events("login_failed").get().detail["reason"] == "not_staff"


# --- (e) the page, and a project's own admin site -----------------------------------


def test_the_login_page_has_the_code_field(db):
    page = Client().get("/admin/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="otp_token"' in html
    assert 'autocomplete="one-time-code"' in html
    assert 'name="username"' in html and 'name="password"' in html


def test_the_default_site_has_the_form_installed():
    assert admin.site.login_form is SecureAuthAdminAuthenticationForm
    assert admin.site.login_template == "admin/secureauth/login.html"


@pytest.mark.urls(__name__)
def test_a_project_admin_site_subclass_gets_the_same_login(staff):
    staff_site_login = "/custom-admin/"
    assert 'name="otp_token"' in Client().get(f"{staff_site_login}login/").content.decode()
    _, phone, _ = enable_second_factor(staff)
    client = Client()
    response = admin_login(client, "boss", prefix=staff_site_login)
    assert_refused(response, "This account has two-factor authentication")
    for _ in range(5):
        admin_login(client, "boss", WRONG, prefix=staff_site_login)
    locked = admin_login(client, "boss", code=phone.code(), prefix=staff_site_login)
    assert_refused(locked, "Too many attempts", status=429)
    assert "_auth_user_id" not in client.session


def test_install_leaves_a_site_with_its_own_login_form_alone(caplog):
    class OwnForm(AdminAuthenticationForm):
        pass

    own = AdminSite(name="own")
    own.login_form = OwnForm
    assert install_admin_login(own) is False
    assert own.login_form is OwnForm
    assert "skips the login limiter" in caplog.text

    plain = AdminSite(name="plain")
    assert install_admin_login(plain) is True
    assert plain.login_form is SecureAuthAdminAuthenticationForm
    assert install_admin_login(plain) is False  # idempotent
