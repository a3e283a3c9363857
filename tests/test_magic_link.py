"""Email sign-in links through the HTTP API: asking for one (202 alike for every
address), signing in with it once, what voids it, what it proves, its limits."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from secureauth.models import AuditEvent, MagicLink, Session, VerifiedEmail
from tests.conftest import PASSWORD, TOKEN_FIELDS, bearer, login, secureauth_settings
from tests.test_mfa import enable_totp, verify

ACCEPTED = {"detail": "If an account uses this address, we have sent it a link to sign in."}
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def request_link(client: APIClient, email, **extra):
    return client.post("/auth/magic-link/", {"email": email}, format="json", **extra)


def confirm(client: APIClient, token, **extra):
    return client.post("/auth/magic-link/confirm/", {"token": token}, format="json", **extra)


def sent_link(outbox_index: int = -1) -> str:
    body = mail.outbox[outbox_index].body
    return re.search(r"https?://\S+", body).group(0)


def sent_token(outbox_index: int = -1) -> str:
    return parse_qs(urlsplit(sent_link(outbox_index)).query)["token"][0]


def new_token(client: APIClient, email: str, **extra) -> str:
    response = request_link(client, email, **extra)
    assert response.status_code == 202, response.content
    return sent_token()


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


def assert_refused(response, code: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert "WWW-Authenticate" not in response


# --- asking for a link ----------------------------------------------------------------


def test_a_known_address_is_mailed_a_link_from_the_settings(api, user):
    response = request_link(api, user.email, HTTP_HOST="evil.example")
    assert response.status_code == 202
    assert response.json() == ACCEPTED
    assert response["Cache-Control"] == "no-store"
    [message] = mail.outbox
    assert message.to == [user.email]
    assert message.subject == "Your sign-in link"
    assert "expires in 15 minutes" in message.body
    assert "evil" not in message.body
    assert sent_link().startswith("http://localhost:3000/magic-link?token=")
    assert len(sent_token()) >= 43
    event = AuditEvent.objects.get(event="magic_link_requested")
    assert event.user_id == user.pk and event.detail == {"known": True}


def test_the_link_template_and_lifetime_come_from_settings(api, user):
    with secureauth_settings(
        FRONTEND_URL="https://app.example/",
        MAGIC_LINK_URL="{frontend}/signin/email/{token}",
        MAGIC_LINK_LIFETIME=90 * 60,
    ):
        request_link(api, user.email)
    assert re.fullmatch(r"https://app\.example/signin/email/[\w-]{43}", sent_link())
    assert "expires in 90 minutes" in mail.outbox[0].body
    link = MagicLink.objects.get()
    assert link.expires_at - link.created_at == timedelta(minutes=90)


def test_the_default_lifetime_is_fifteen_minutes(api, user):
    request_link(api, user.email)
    link = MagicLink.objects.get()
    assert link.expires_at - link.created_at == timedelta(minutes=15)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(api, user):
    known = request_link(api, user.email)
    unknown = request_link(api, "nobody@example.com")
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert len(mail.outbox) == 1
    event = AuditEvent.objects.filter(event="magic_link_requested").order_by("pk").last()
    assert event.user_id is None and event.detail == {"known": False}
    # The same work: a row for it too, that names nobody and no address.
    assert MagicLink.objects.count() == 2
    stand_in = MagicLink.objects.get(user=None)
    assert "nobody" not in stand_in.address_digest


def test_a_deactivated_user_gets_nothing(api, make_user):
    make_user("gone@example.com", is_active=False, verified=True)
    response = request_link(api, "gone@example.com")
    assert response.status_code == 202 and response.json() == ACCEPTED
    assert mail.outbox == []
    assert AuditEvent.objects.get(event="magic_link_requested").user_id is None


def test_the_lookup_uses_the_canonical_email(api, user):
    assert request_link(api, "  ALICE@Example.COM ").status_code == 202
    assert mail.outbox[0].to == [user.email]


@pytest.mark.parametrize(
    "body",
    [{}, {"email": ""}, {"email": "not an email"}, {"email": ["a@example.com"]}, {"email": 5}],
)
def test_a_bad_email_is_a_field_error(api, db, body):
    response = api.post("/auth/magic-link/", body, format="json")
    assert response.status_code == 400
    assert "email" in response.json()
    assert mail.outbox == []


def test_an_unprintable_device_name_is_a_field_error(api, user):
    response = api.post(
        "/auth/magic-link/", {"email": user.email, "device_name": "a\nb"}, format="json"
    )
    assert response.status_code == 400 and "device_name" in response.json()


# --- signing in with it ---------------------------------------------------------------


def test_the_link_signs_in_with_amr_email(api, user):
    token = new_token(api, user.email)
    response = confirm(APIClient(), token)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == TOKEN_FIELDS
    assert tokens["user"]["email"] == user.email
    assert claims(tokens)["amr"] == ["email"]
    assert Session.objects.get().amr == ["email"]
    me = APIClient().get("/auth/me/", **bearer(tokens))
    assert me.status_code == 200 and me.json()["id"] == str(user.pk)
    used = AuditEvent.objects.get(event="magic_link_used")
    assert used.user_id == user.pk
    signed_in = AuditEvent.objects.get(event="login_succeeded")
    assert signed_in.session_id is not None
    assert signed_in.detail == {"amr": ["email"], "method": "magic_link"}


def test_the_session_is_named_as_asked_and_belongs_to_the_confirming_device(api, user):
    response = api.post(
        "/auth/magic-link/",
        {"email": user.email, "device_name": "Work laptop"},
        format="json",
        HTTP_USER_AGENT=CHROME_WINDOWS,
    )
    assert response.status_code == 202
    tokens = confirm(
        APIClient(), sent_token(), HTTP_USER_AGENT=FIREFOX_LINUX, REMOTE_ADDR="198.51.100.7"
    ).json()
    assert tokens["session"]["device"]["name"] == "Work laptop"
    assert tokens["session"]["device"]["browser"] == "Firefox"
    assert tokens["session"]["ip"] == "198.51.100.7"


def test_a_link_works_once(api, user):
    token = new_token(api, user.email)
    assert confirm(api, token).status_code == 200
    assert_refused(confirm(api, token), "token_invalid")
    assert Session.objects.count() == 1


def test_an_expired_link_is_refused(api, user):
    token = new_token(api, user.email)
    MagicLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = confirm(api, token)
    assert_refused(response, "token_expired")
    assert not Session.objects.exists()


def test_a_newer_link_voids_the_older_ones(api, user):
    first = new_token(api, user.email)
    second = new_token(api, user.email)
    assert first != second
    assert_refused(confirm(api, first), "token_invalid")
    assert confirm(api, second).status_code == 200


def test_a_newer_link_voids_an_older_one_even_if_both_are_pending(api, user):
    """Two requests that raced: neither voided the other; the newer one wins."""
    first = new_token(api, user.email)
    second = new_token(api, user.email)
    MagicLink.objects.update(used_at=None)
    assert_refused(confirm(api, first), "token_invalid")
    assert confirm(api, second).status_code == 200


def test_links_of_other_addresses_stay_valid(api, user, make_user):
    bob = make_user("bob@example.com")
    alice_token = new_token(api, user.email)
    new_token(api, bob.email)
    request_link(api, "nobody@example.com")
    assert confirm(api, alice_token).status_code == 200


def test_a_user_deactivated_after_asking_cannot_use_the_link(api, user):
    token = new_token(api, user.email)
    user.is_active = False
    user.save()
    assert_refused(confirm(api, token), "token_invalid")


def test_a_password_change_voids_a_pending_link(api, user):
    token = new_token(api, user.email)
    client = APIClient()
    client.credentials(**bearer(login(client, user.email)))
    changed = client.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "an entirely new horse staple"},
        format="json",
    )
    assert changed.status_code == 204
    assert_refused(confirm(api, token), "token_invalid")
    refused = AuditEvent.objects.get(event="login_failed")
    assert refused.user_id == user.pk
    assert refused.detail == {"method": "magic_link", "reason": "credentials_changed"}


def test_a_link_mailed_to_an_address_the_account_left_is_void(api, user):
    token = new_token(api, user.email)
    user.email = "alice.new@example.com"
    user.save()
    assert_refused(confirm(api, token), "token_invalid")
    assert AuditEvent.objects.get(event="login_failed").detail["reason"] == "email_changed"
    assert not VerifiedEmail.objects.filter(email="alice.new@example.com").exists()


@pytest.mark.parametrize(
    "token",
    [
        "x" * 43,
        "short",
        "not a token at all!",
        "a" * 128,
        "é" * 43,
        12345,
        1.5,
    ],
)
def test_an_unknown_or_malformed_token_is_invalid(api, db, token):
    assert_refused(confirm(api, token), "token_invalid")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": ""},
        {"token": None},
        {"token": "a" * 129},
        {"token": ["a" * 43]},
        {"token": {"value": "a" * 43}},
        {"token": True},
    ],
)
def test_a_missing_overlong_or_non_string_token_is_a_field_error(api, db, body):
    response = api.post("/auth/magic-link/confirm/", body, format="json")
    assert response.status_code == 400, response.content
    assert "token" in response.json()


def test_a_body_that_is_not_an_object_is_invalid(api, db):
    response = api.post("/auth/magic-link/confirm/", '["token"]', content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


# --- what the link proves ---------------------------------------------------------------


def test_using_the_link_verifies_the_email(api, make_user):
    unverified = make_user("new@example.com")
    token = new_token(api, unverified.email)
    tokens = confirm(api, token).json()
    assert tokens["user"]["email_verified"] is True
    assert VerifiedEmail.objects.filter(user=unverified, email=unverified.email).exists()
    event = AuditEvent.objects.get(event="email_verified")
    assert event.detail["via"] == "magic_link"


def test_an_unverified_account_may_sign_in_by_link_when_unverified_logins_are_off(api, make_user):
    unverified = make_user("new@example.com")
    with secureauth_settings(ALLOW_UNVERIFIED_LOGIN=False):
        refused = api.post(
            "/auth/login/", {"email": unverified.email, "password": PASSWORD}, format="json"
        )
        assert refused.status_code == 403
        token = new_token(api, unverified.email)
        assert confirm(api, token).status_code == 200


def test_a_user_with_a_second_factor_gets_the_challenge_then_verifies(api, user):
    client = APIClient()
    client.credentials(**bearer(login(client, user.email)))
    phone, _ = enable_totp(client)
    sessions_before = Session.objects.count()

    token = new_token(api, user.email)
    challenge = confirm(APIClient(), token)
    assert challenge.status_code == 200
    body = challenge.json()
    assert body["mfa_required"] is True and "access_token" not in body
    assert body["methods"] == ["totp", "recovery_code"]
    assert Session.objects.count() == sessions_before
    assert_refused(confirm(APIClient(), token), "token_invalid")

    finished = verify(APIClient(), body["mfa_token"], code=phone.code())
    assert finished.status_code == 200, finished.content
    assert claims(finished.json())["amr"] == ["email", "otp"]


def test_a_new_device_is_notified(api, user):
    login(APIClient(), user.email, HTTP_USER_AGENT=CHROME_WINDOWS)
    mail.outbox.clear()
    token = new_token(api, user.email)
    assert confirm(APIClient(), token, HTTP_USER_AGENT=FIREFOX_LINUX).status_code == 200
    assert AuditEvent.objects.filter(event="new_device_sign_in").count() == 1
    assert [m.subject for m in mail.outbox][-1] == "New sign-in to your account"


# --- cookie mode ------------------------------------------------------------------------


def test_cookie_mode_sets_the_refresh_cookie(api, user):
    token = new_token(api, user.email)
    client = APIClient()
    response = confirm(client, token, HTTP_X_SECUREAUTH_COOKIE="1")
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    cookie = response.cookies["secureauth_refresh"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"
    refreshed = client.post("/auth/refresh/", {}, format="json", HTTP_X_SECUREAUTH_COOKIE="1")
    assert refreshed.status_code == 200, refreshed.content


def test_cookie_mode_by_setting(api, user):
    token = new_token(api, user.email)
    with secureauth_settings(REFRESH_TOKEN_COOKIE=True):
        response = confirm(api, token)
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    assert "secureauth_refresh" in response.cookies


# --- rate limits ------------------------------------------------------------------------


def test_requests_are_limited_per_ip(api, user):
    with secureauth_settings(RATE_LIMITS={"magic_link": "2/h"}):
        statuses = [request_link(api, f"user{i}@example.com").status_code for i in range(3)]
        other_ip = request_link(api, user.email, REMOTE_ADDR="198.51.100.3")
    assert statuses == [202, 202, 429]
    assert other_ip.status_code == 202


def test_requests_are_limited_per_address_known_or_not(api, user):
    with secureauth_settings(RATE_LIMITS={"magic_link_email": "2/h"}):
        for email in (user.email, "nobody@example.com"):
            statuses = [
                request_link(api, email, REMOTE_ADDR=f"198.51.100.{i}").status_code
                for i in range(3)
            ]
            assert statuses == [202, 202, 429], email
        # Another spelling of the same address is the same address.
        spelled = request_link(api, user.email.upper(), REMOTE_ADDR="198.51.100.9")
    assert spelled.status_code == 429
    assert spelled.json()["code"] == "rate_limited"
    assert int(spelled["Retry-After"]) >= 1
    assert len(mail.outbox) == 2


def test_confirms_are_limited_per_ip(api, user):
    token = new_token(api, user.email)
    with secureauth_settings(RATE_LIMITS={"magic_link_confirm": "2/h"}):
        statuses = [confirm(api, "x" * 43).status_code for _ in range(2)]
        limited = confirm(api, token)
    assert statuses == [400, 400]
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert confirm(api, token).status_code == 200  # the refused attempt did not spend it


def test_confirms_are_limited_per_address(api, user):
    with secureauth_settings(RATE_LIMITS={"magic_link_confirm": "1/h"}):
        first = new_token(api, user.email)
        assert confirm(api, first, REMOTE_ADDR="198.51.100.1").status_code == 200
        second = new_token(api, user.email)
        limited = confirm(api, second, REMOTE_ADDR="198.51.100.2")
    assert limited.status_code == 429
    assert confirm(api, second, REMOTE_ADDR="198.51.100.3").status_code == 200


def test_ratelimit_enable_off_switches_the_limits_off(api, user):
    limits = {"magic_link": "1/h", "magic_link_email": "1/h", "magic_link_confirm": "1/h"}
    with secureauth_settings(RATE_LIMITS=limits), override_settings(RATELIMIT_ENABLE=False):
        tokens = [new_token(api, user.email) for _ in range(3)]
        assert confirm(api, tokens[-1]).status_code == 200
        assert_refused(confirm(api, tokens[0]), "token_invalid")


# --- the schema -------------------------------------------------------------------------


def test_the_schema_documents_both_operations(api, db):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    request_op = schema["paths"]["/auth/magic-link/"]["post"]
    confirm_op = schema["paths"]["/auth/magic-link/confirm/"]["post"]
    assert request_op["operationId"] == "request_magic_link"
    assert confirm_op["operationId"] == "confirm_magic_link"
    assert "202" in request_op["responses"] and "429" in request_op["responses"]
    success = confirm_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert success == {"$ref": "#/components/schemas/SignInResponse"}
    examples = confirm_op["responses"]["400"]["content"]["application/json"]["examples"]
    codes = {e["value"].get("code") for e in examples.values()}
    assert {"invalid", "token_invalid", "token_expired"} <= codes


# --- the same work for every address ------------------------------------------------------


def test_the_message_is_rendered_for_an_unknown_address_too_and_dropped(api, user, monkeypatch):
    from secureauth import mail as secureauth_mail

    rendered = []
    render = secureauth_mail.render_message

    def counting_render(prefix, to, context):
        rendered.append((prefix, to))
        return render(prefix, to, context)

    monkeypatch.setattr(secureauth_mail, "render_message", counting_render)
    request_link(api, user.email)
    request_link(api, "nobody@example.com")
    assert rendered == [("magic_link", user.email), ("magic_link", "nobody@example.com")]
    assert [m.to for m in mail.outbox] == [[user.email]]


class RecordingPool:
    """Stands in for the background mail thread: runs nothing until told to."""

    def __init__(self) -> None:
        self.jobs: list = []

    def submit(self, fn, *args):
        self.jobs.append((fn, args))

    def run(self) -> None:
        for fn, args in self.jobs:
            fn(*args)


def test_background_mail_is_handed_over_after_the_response(api, user, monkeypatch):
    from secureauth import mail as secureauth_mail
    from secureauth.api.views.magic_links import MagicLinkRequestView

    pool = RecordingPool()
    monkeypatch.setattr(secureauth_mail, "_pool", lambda: pool)
    answered = MagicLinkRequestView.post
    when_answered = []

    def post(self, request):
        response = answered(self, request)  # committed: the mail is queued by now
        when_answered.append(len(pool.jobs))
        return response

    monkeypatch.setattr(MagicLinkRequestView, "post", post)
    with secureauth_settings(SEND_MAIL_IN_BACKGROUND=True):
        assert request_link(api, user.email).status_code == 202
    assert when_answered == [0]  # not handed over while the response was being made
    assert len(pool.jobs) == 1  # but once it was finished
    assert mail.outbox == []
    pool.run()
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_outside_a_request_background_mail_is_handed_over_at_commit(user, monkeypatch):
    from secureauth import mail as secureauth_mail

    pool = RecordingPool()
    monkeypatch.setattr(secureauth_mail, "_pool", lambda: pool)
    secureauth_mail.release_after_response()  # not serving a request
    with secureauth_settings(SEND_MAIL_IN_BACKGROUND=True):
        secureauth_mail.send_template_after_commit(
            "magic_link", user.email, {"link": "x", "lifetime": "1 minute"}
        )
    assert len(pool.jobs) == 1
    pool.run()
    assert mail.outbox[0].to == [user.email]
