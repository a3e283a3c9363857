"""Two-factor authentication end to end: TOTP setup and confirmation, the MFA step of
login, recovery codes, disabling. Codes are computed independently with pyotp."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import jwt
import pyotp
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from secureauth.models import AuditEvent, MFAChallenge, Session
from tests.conftest import PASSWORD, bearer, login, secureauth_settings

STEP = 30


class Authenticator:
    """The user's phone: codes computed with pyotp from the secret; each step used once,
    as the server accepts a code only at a later step than the last one it accepted."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step = -1

    def code(self) -> str:
        step = max(int(time.time()) // STEP, self.last_step + 1)
        self.last_step = step
        return self.totp.at(step * STEP)

    def at_offset(self, steps: int) -> str:
        """The code ``steps`` time steps from now (a phone whose clock is off)."""
        return self.totp.at(time.time() + steps * STEP)


def wait_for_fresh_step() -> None:
    """Avoid a step boundary in the middle of a test that counts steps."""
    left = STEP - time.time() % STEP
    if left < 5:
        time.sleep(left + 0.1)


def enable_totp(client: APIClient) -> tuple[Authenticator, list[str]]:
    """Set up and confirm TOTP for the signed-in client; (authenticator, recovery codes)."""
    setup = client.post("/auth/mfa/totp/setup/")
    assert setup.status_code == 200, setup.content
    phone = Authenticator(setup.json()["secret"])
    confirmed = client.post("/auth/mfa/totp/confirm/", {"code": phone.code()}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    return phone, confirmed.json()["recovery_codes"]


def verify(client: APIClient, mfa_token: str, **proof):
    return client.post("/auth/mfa/verify/", {"mfa_token": mfa_token, **proof}, format="json")


def amr(tokens: dict) -> list[str]:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})["amr"]


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    """django-otp's per-device backoff has its own test; elsewhere it would only add waits."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def mfa_user(signed_in, user):
    """``user`` with TOTP enabled: (client signed in, authenticator, recovery codes)."""
    client, _ = signed_in
    phone, codes = enable_totp(client)
    return client, phone, codes


# --- setup and confirmation -------------------------------------------------------


def test_setup_returns_secret_uri_and_local_svg_qr(signed_in, user):
    client, _ = signed_in
    response = client.post("/auth/mfa/totp/setup/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert len(base64.b32decode(body["secret"])) == 20
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert parsed.issuer == "SecureAuth"
    assert parsed.name == user.email
    assert parsed.secret == body["secret"]
    assert body["otpauth_uri"].startswith("otpauth://totp/SecureAuth:alice%40example.com?")
    assert body["qr_svg"].startswith("<svg") and "<path" in body["qr_svg"]
    assert "http" not in body["qr_svg"].replace("http://www.w3.org/2000/svg", "")
    assert client.get("/auth/me/").json()["mfa_enabled"] is False


def test_issuer_comes_from_settings(signed_in):
    client, _ = signed_in
    with secureauth_settings(TOTP_ISSUER="Acme Corp"):
        uri = client.post("/auth/mfa/totp/setup/").json()["otpauth_uri"]
    assert pyotp.parse_uri(uri).issuer == "Acme Corp"


def test_confirm_enables_totp_and_returns_ten_recovery_codes(signed_in, user):
    client, _ = signed_in
    phone = Authenticator(client.post("/auth/mfa/totp/setup/").json()["secret"])
    response = client.post("/auth/mfa/totp/confirm/", {"code": phone.code()}, format="json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert client.get("/auth/me/").json()["mfa_enabled"] is True
    assert AuditEvent.objects.filter(event="mfa_enabled", user=user).count() == 1


def test_recovery_codes_are_not_stored_in_clear(mfa_user, user):
    from django_otp.plugins.otp_static.models import StaticToken

    _, _, codes = mfa_user
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & {c.lower() for c in codes}


def test_second_setup_replaces_the_unconfirmed_device(signed_in):
    client, _ = signed_in
    wait_for_fresh_step()
    first = pyotp.TOTP(client.post("/auth/mfa/totp/setup/").json()["secret"])
    second = pyotp.TOTP(client.post("/auth/mfa/totp/setup/").json()["secret"])
    stale = client.post("/auth/mfa/totp/confirm/", {"code": first.now()}, format="json")
    assert stale.status_code == 401 and stale.json()["code"] == "mfa_invalid"
    fresh = client.post("/auth/mfa/totp/confirm/", {"code": second.now()}, format="json")
    assert fresh.status_code == 200


def test_confirm_with_a_wrong_code_is_refused(signed_in):
    client, _ = signed_in
    secret = client.post("/auth/mfa/totp/setup/").json()["secret"]
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    response = client.post("/auth/mfa/totp/confirm/", {"code": wrong}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "mfa_invalid"
    assert client.get("/auth/me/").json()["mfa_enabled"] is False


def test_setup_or_confirm_when_already_enabled_is_a_conflict(mfa_user):
    client, phone, _ = mfa_user
    again = client.post("/auth/mfa/totp/setup/")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "Two-factor authentication is already enabled; disable it first.",
        "code": "invalid",
    }
    confirm = client.post("/auth/mfa/totp/confirm/", {"code": phone.code()}, format="json")
    assert confirm.status_code == 409


def test_confirm_without_setup_is_a_conflict(signed_in):
    client, _ = signed_in
    response = client.post("/auth/mfa/totp/confirm/", {"code": "123456"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "１２３４５６", "1234567890123", None])
def test_malformed_codes_are_field_errors(signed_in, code):
    client, _ = signed_in
    client.post("/auth/mfa/totp/setup/")
    response = client.post("/auth/mfa/totp/confirm/", {"code": code}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()


def test_mfa_endpoints_need_a_bearer_token(api, db):
    for path in ("totp/setup/", "totp/confirm/", "recovery-codes/", "disable/"):
        response = api.post(f"/auth/mfa/{path}", {}, format="json")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_enabling_revokes_the_other_sessions(api, user):
    other = login(APIClient(), user.email)
    tokens = login(api, user.email)
    api.credentials(**bearer(tokens))
    enable_totp(api)
    assert APIClient().get("/auth/me/", **bearer(other)).json()["code"] == "session_revoked"
    assert api.get("/auth/me/").status_code == 200
    assert Session.objects.filter(revoked_reason="mfa_changed").count() == 1


# --- login with MFA ---------------------------------------------------------------


def test_login_with_totp(mfa_user, user):
    _, phone, _ = mfa_user
    client = APIClient()
    challenge = login(client, user.email, device_name="Phone")
    assert challenge["mfa_required"] is True
    assert challenge["methods"] == ["totp", "recovery_code"]
    assert "access_token" not in challenge and "refresh_token" not in challenge
    response = verify(client, challenge["mfa_token"], code=phone.code())
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert amr(tokens) == ["pwd", "otp"]
    assert tokens["user"]["mfa_enabled"] is True
    assert tokens["session"]["device"]["name"] == "Phone"
    assert client.get("/auth/me/", **bearer(tokens)).status_code == 200
    events = list(AuditEvent.objects.filter(user=user).values_list("event", flat=True))
    assert "mfa_succeeded" in events and "login_succeeded" in events


def test_login_with_a_recovery_code_once(mfa_user, user):
    _, _, codes = mfa_user
    challenge = login(APIClient(), user.email)
    response = verify(APIClient(), challenge["mfa_token"], recovery_code=codes[0].upper())
    assert response.status_code == 200
    assert amr(response.json()) == ["pwd", "otp"]
    again = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], recovery_code=codes[0])
    assert again.status_code == 401 and again.json()["code"] == "mfa_invalid"
    spaced = f"{codes[1][:4]}-{codes[1][4:]}"
    other = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], recovery_code=spaced)
    assert other.status_code == 200


def test_a_totp_code_is_accepted_once(mfa_user, user):
    _, phone, _ = mfa_user
    code = phone.code()
    first = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], code=code)
    assert first.status_code == 200
    replay = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], code=code)
    assert replay.status_code == 401
    assert replay.json() == {"detail": "The code is invalid.", "code": "mfa_invalid"}
    assert AuditEvent.objects.filter(event="mfa_failed", user=user).count() == 1


def test_the_code_that_enabled_totp_cannot_sign_in(signed_in, user):
    client, _ = signed_in
    wait_for_fresh_step()
    secret = client.post("/auth/mfa/totp/setup/").json()["secret"]
    code = pyotp.TOTP(secret).now()
    assert client.post("/auth/mfa/totp/confirm/", {"code": code}, format="json").status_code == 200
    response = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], code=code)
    assert response.json()["code"] == "mfa_invalid"


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_of_clock_drift_is_tolerated(signed_in, user, offset):
    client, _ = signed_in
    wait_for_fresh_step()
    phone = Authenticator(client.post("/auth/mfa/totp/setup/").json()["secret"])
    skewed = phone.at_offset(offset)
    assert (
        client.post("/auth/mfa/totp/confirm/", {"code": skewed}, format="json").status_code == 200
    )
    # django-otp learns the drift: the phone's next code (one step later) is accepted.
    later = verify(
        APIClient(), login(APIClient(), user.email)["mfa_token"], code=phone.at_offset(offset + 1)
    )
    assert later.status_code == 200


def test_two_steps_of_drift_are_refused(signed_in, user):
    client, _ = signed_in
    wait_for_fresh_step()
    phone = Authenticator(client.post("/auth/mfa/totp/setup/").json()["secret"])
    for offset in (-2, 2):
        response = client.post(
            "/auth/mfa/totp/confirm/", {"code": phone.at_offset(offset)}, format="json"
        )
        assert response.status_code == 401


def test_the_mfa_token_is_single_use(mfa_user, user):
    _, phone, codes = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    assert verify(APIClient(), mfa_token, code=phone.code()).status_code == 200
    reused = verify(APIClient(), mfa_token, recovery_code=codes[0])
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_invalid"


def test_the_mfa_token_is_spent_after_max_attempts(mfa_user, user):
    _, phone, _ = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    for _ in range(5):
        wrong = verify(APIClient(), mfa_token, code="000000")
        assert wrong.status_code == 401 and wrong.json()["code"] == "mfa_invalid"
    code = phone.code()
    late = verify(APIClient(), mfa_token, code=code)
    assert late.status_code == 401
    assert late.json()["code"] == "token_invalid"
    assert AuditEvent.objects.filter(event="mfa_failed", user=user).count() == 5
    # A new login gets a fresh challenge; the code was not used up by the spent token.
    fresh = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], code=code)
    assert fresh.status_code == 200


def test_max_attempts_comes_from_settings(mfa_user, user):
    _, phone, _ = mfa_user
    with secureauth_settings(MFA_MAX_ATTEMPTS=2):
        mfa_token = login(APIClient(), user.email)["mfa_token"]
        verify(APIClient(), mfa_token, code="000000")
        verify(APIClient(), mfa_token, recovery_code="nope")
        assert verify(APIClient(), mfa_token, code=phone.code()).json()["code"] == "token_invalid"


def test_expired_or_unknown_mfa_tokens_are_refused(mfa_user, user):
    _, phone, _ = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    MFAChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    for token in (mfa_token, "x" * 43, "bad token!"):
        response = verify(APIClient(), token, code=phone.code())
        assert response.status_code == 401
        assert response.json()["code"] == "token_invalid"


def test_an_mfa_token_is_not_a_bearer_token(mfa_user, user):
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    response = APIClient().get("/auth/me/", HTTP_AUTHORIZATION=f"Bearer {mfa_token}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_a_disabled_user_cannot_finish_the_mfa_step(mfa_user, user):
    _, phone, _ = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = verify(APIClient(), mfa_token, code=phone.code())
    assert response.json()["code"] == "token_invalid"


@pytest.mark.parametrize(
    "body",
    [
        {"mfa_token": "t"},
        {"mfa_token": "t", "code": "123456", "recovery_code": "abcdefgh"},
        {"code": "123456"},
        {"mfa_token": "t", "code": "12ab56"},
        {"mfa_token": ["t"], "code": "123456"},
    ],
)
def test_bad_verify_bodies_are_field_errors(api, db, body):
    response = api.post("/auth/mfa/verify/", body, format="json")
    assert response.status_code == 400


def test_mfa_verify_is_rate_limited(mfa_user, user):
    with secureauth_settings(RATE_LIMITS={"mfa_verify": "3/m"}):
        client = APIClient()
        statuses = [verify(client, "x" * 43, code="000000").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_device_throttle_answers_rate_limited(mfa_user, user, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    _, phone, _ = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    assert verify(APIClient(), mfa_token, code="000000").json()["code"] == "mfa_invalid"
    throttled = verify(APIClient(), mfa_token, code=phone.code())
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "rate_limited"
    assert 1 <= int(throttled["Retry-After"]) <= 10
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    # The throttled attempt did not consume the code (it counted as an attempt: below).
    assert (
        verify(APIClient(), mfa_token, code=phone.totp.at(phone.last_step * STEP)).status_code
        == 200
    )


def test_throttled_attempts_count_toward_max_attempts(mfa_user, user, settings):
    """An attacker hammering a throttled device must not keep the mfa_token alive for a
    later recovery-code guess: refusals by the throttle are refused attempts too."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    _, _, codes = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    statuses = [verify(APIClient(), mfa_token, code="000000").status_code for _ in range(5)]
    assert statuses[0] == 401 and set(statuses[1:]) == {429}
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    spent = verify(APIClient(), mfa_token, recovery_code=codes[0])
    assert spent.status_code == 401
    assert spent.json()["code"] == "token_invalid"


# --- IsMFAAuthenticated -----------------------------------------------------------


def test_is_mfa_authenticated_needs_a_second_factor_in_amr(mfa_user, user):
    client, phone, _ = mfa_user  # signed in with the password only
    assert client.get("/test/mfa-only/").status_code == 403
    tokens = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], code=phone.code())
    response = APIClient().get("/test/mfa-only/", **bearer(tokens.json()))
    assert response.status_code == 200


# --- recovery codes ---------------------------------------------------------------


def test_regenerating_recovery_codes_voids_the_old_ones(mfa_user, user):
    client, phone, old = mfa_user
    response = client.post("/auth/mfa/recovery-codes/", {"code": phone.code()}, format="json")
    assert response.status_code == 200
    new = response.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    stale = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], recovery_code=old[0])
    assert stale.json()["code"] == "mfa_invalid"
    fresh = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], recovery_code=new[0])
    assert fresh.status_code == 200
    assert AuditEvent.objects.filter(event="recovery_codes_regenerated").count() == 1


def test_regenerating_needs_a_current_code(mfa_user, user):
    client, phone, old = mfa_user
    assert client.post("/auth/mfa/recovery-codes/", {}, format="json").status_code == 400
    wrong = client.post("/auth/mfa/recovery-codes/", {"code": "000000"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["code"] == "mfa_invalid"
    replayed = phone.totp.at(phone.last_step * STEP)  # the code that enabled TOTP
    again = client.post("/auth/mfa/recovery-codes/", {"code": replayed}, format="json")
    assert again.json()["code"] == "mfa_invalid"
    ok = verify(APIClient(), login(APIClient(), user.email)["mfa_token"], recovery_code=old[0])
    assert ok.status_code == 200


def test_regenerating_without_mfa_is_a_conflict(signed_in):
    client, _ = signed_in
    response = client.post("/auth/mfa/recovery-codes/", {"code": "123456"}, format="json")
    assert response.status_code == 409


# --- disabling --------------------------------------------------------------------


def test_disable_with_password_and_code(api, user):
    api.credentials(**bearer(login(api, user.email)))
    phone, _ = enable_totp(api)
    other = login(APIClient(), user.email)
    other = verify(APIClient(), other["mfa_token"], code=phone.code()).json()
    response = api.post(
        "/auth/mfa/disable/", {"password": PASSWORD, "code": phone.code()}, format="json"
    )
    assert response.status_code == 204
    assert api.get("/auth/me/").json()["mfa_enabled"] is False
    assert APIClient().get("/auth/me/", **bearer(other)).json()["code"] == "session_revoked"
    assert "access_token" in login(APIClient(), user.email)  # no MFA step any more
    event = AuditEvent.objects.get(event="mfa_disabled")
    assert event.detail["sessions_revoked"] == 1


def test_disable_with_a_recovery_code(mfa_user):
    client, _, codes = mfa_user
    response = client.post(
        "/auth/mfa/disable/", {"password": PASSWORD, "recovery_code": codes[3]}, format="json"
    )
    assert response.status_code == 204


def test_disable_refuses_a_wrong_password_or_code(mfa_user):
    client, phone, _ = mfa_user
    wrong_password = client.post(
        "/auth/mfa/disable/", {"password": "nope", "code": phone.code()}, format="json"
    )
    assert wrong_password.status_code == 400  # a re-entered password: not an expired token
    assert wrong_password.json()["code"] == "invalid_credentials"
    wrong_code = client.post(
        "/auth/mfa/disable/", {"password": PASSWORD, "code": "000000"}, format="json"
    )
    assert wrong_code.status_code == 401
    assert wrong_code.json()["code"] == "mfa_invalid"
    assert client.get("/auth/me/").json()["mfa_enabled"] is True


@pytest.mark.parametrize("body", [{"code": "123456"}, {"password": PASSWORD}, {}])
def test_disable_needs_both_proofs(mfa_user, body):
    client, _, _ = mfa_user
    response = client.post("/auth/mfa/disable/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) <= {"password", "code"}


def test_an_account_without_a_password_disables_with_the_code_alone(mfa_user, user):
    client, phone, _ = mfa_user
    user.set_unusable_password()
    user.save(update_fields=["password"])
    response = client.post("/auth/mfa/disable/", {"code": phone.code()}, format="json")
    assert response.status_code == 204
    assert client.get("/auth/me/").json()["mfa_enabled"] is False


def test_disable_without_mfa_is_a_conflict(signed_in):
    client, _ = signed_in
    response = client.post(
        "/auth/mfa/disable/", {"password": PASSWORD, "code": "123456"}, format="json"
    )
    assert response.status_code == 409


def test_wrong_passwords_on_disable_are_rate_limited(mfa_user):
    client, phone, _ = mfa_user
    statuses = [
        client.post(
            "/auth/mfa/disable/", {"password": "nope", "code": "000000"}, format="json"
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [400] * 5
    assert statuses[-1] == 429
