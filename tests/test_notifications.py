# ruff: noqa: F811  (the provider fixtures are imported from test_social and used as arguments)
"""Security notifications through the HTTP API: a mail to the account's address for
every change to how it signs in and for a sign-in from a new device; the "this wasn't
me" link of that mail (``sessions/report/``); mail sent after commit, never failing
or slowing the request, and never for work that rolled back."""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from datetime import UTC, timedelta
from urllib.parse import unquote

import pytest
from django.core import mail, signing
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from secureauth.constants import Event
from secureauth.mail import wait_for_background_mail
from secureauth.models import AuditEvent, Session
from secureauth.services import audit
from secureauth.services.notifications import NOTICES, report_token
from tests.conftest import PASSWORD, bearer, login, refresh, run_in_threads, secureauth_settings
from tests.test_mfa import enable_totp
from tests.test_passkeys import add_passkey, begin_login, complete_login
from tests.test_password import NEW_PASSWORD, confirm_reset, request_reset, reset_link
from tests.test_social import URL as SOCIAL_URL
from tests.test_social import _provider_server, authorize, oidc  # noqa: F401
from tests.webauthn_authenticator import SoftwareAuthenticator

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
CHROME_WINDOWS_LATER = CHROME_WINDOWS.replace("Chrome/124.0.0.0", "Chrome/126.0.6478.61")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
REPORT_URL = "/auth/sessions/report/"
NEW_DEVICE = NOTICES[Event.NEW_DEVICE_SIGN_IN]


def notices(subject: str | None = None) -> list:
    """The security notices sent so far (all, or those with ``subject``)."""
    subjects = set(NOTICES.values()) if subject is None else {subject}
    return [m for m in mail.outbox if m.subject in subjects]


def only_notice(event: str):
    sent = notices()
    assert [m.subject for m in sent] == [NOTICES[event]], [m.subject for m in sent]
    return sent[0]


def sign_in(email: str, user_agent: str = CHROME_WINDOWS, ip: str = "203.0.113.7") -> dict:
    """POST login/ from a client with this User-Agent and address; the token response."""
    response = APIClient().post(
        "/auth/login/",
        {"email": email, "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT=user_agent,
        REMOTE_ADDR=ip,
    )
    assert response.status_code == 200, response.content
    return response.json()


def report_token_in(message) -> str:
    found = re.search(r"https?://\S*[?&]token=(\S+)", message.body)
    assert found, message.body
    return unquote(found.group(1))


def report(token: str, **extra):
    return APIClient().post(REPORT_URL, {"token": token}, format="json", **extra)


def client_for(tokens: dict) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(tokens))
    return client


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def known_device(user):
    """Alice has signed in once from Chrome on Windows (no mail: her first sign-in)."""
    tokens = sign_in(user.email, CHROME_WINDOWS)
    mail.outbox.clear()
    return tokens


# --- a notice for each change to how the account signs in ---------------------------


def test_password_change_is_notified(signed_in, user):
    client, _ = signed_in
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/auth/password/change/", body, format="json").status_code == 204
    message = only_notice(Event.PASSWORD_CHANGED)
    assert message.to == ["alice@example.com"]
    assert "Your password was changed" in message.body
    assert "127.0.0.1" in message.body
    assert PASSWORD not in message.body and NEW_PASSWORD not in message.body
    assert "token=" not in message.body  # only a new-device notice has a report link


def test_password_reset_is_notified(api, user):
    request_reset(api, user.email)
    link = reset_link()
    mail.outbox.clear()
    assert confirm_reset(api, link["uid"], link["token"]).status_code == 204
    message = only_notice(Event.PASSWORD_RESET_COMPLETED)
    assert message.to == [user.email]


def test_totp_enable_regenerate_and_disable_are_notified(signed_in, user):
    client, _ = signed_in
    phone, _ = enable_totp(client)
    assert only_notice(Event.MFA_ENABLED).to == [user.email]
    mail.outbox.clear()

    response = client.post("/auth/mfa/recovery-codes/", {"code": phone.code()}, format="json")
    assert response.status_code == 200
    message = only_notice(Event.RECOVERY_CODES_REGENERATED)
    assert message.to == [user.email]
    for code in response.json()["recovery_codes"]:  # the mail never carries the codes
        assert code not in message.body
    mail.outbox.clear()

    body = {"password": PASSWORD, "code": phone.code()}
    assert client.post("/auth/mfa/disable/", body, format="json").status_code == 204
    assert only_notice(Event.MFA_DISABLED).to == [user.email]


def test_a_wrong_code_sends_no_notice(signed_in):
    client, _ = signed_in
    setup = client.post("/auth/mfa/totp/setup/")
    assert setup.status_code == 200
    wrong = client.post("/auth/mfa/totp/confirm/", {"code": "000000"}, format="json")
    assert wrong.status_code == 401
    assert notices() == []


def test_passkey_added_and_removed_are_notified(signed_in, user):
    client, _ = signed_in
    passkey = add_passkey(client, SoftwareAuthenticator(), "Laptop")
    assert only_notice(Event.PASSKEY_ADDED).to == [user.email]
    mail.outbox.clear()
    assert client.delete(f"/auth/passkeys/{passkey['id']}/", format="json").status_code == 204
    assert only_notice(Event.PASSKEY_REMOVED).to == [user.email]


def test_social_link_and_unlink_are_notified(signed_in, user, oidc):
    client, _ = signed_in
    oidc.add_user("alice-idp", email="alice.elsewhere@example.org", email_verified=True)
    response = client.post(SOCIAL_URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert response.status_code == 201, response.content
    message = only_notice(Event.SOCIAL_LINKED)
    # The account's own address, not the provider's.
    assert message.to == ["alice@example.com"]
    mail.outbox.clear()
    # Connecting the same identity again links nothing new: no second notice.
    again = client.post(SOCIAL_URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert again.status_code == 201
    assert notices() == []

    deleted = client.delete(f"/auth/social/connections/{response.json()['id']}/")
    assert deleted.status_code == 204
    assert only_notice(Event.SOCIAL_UNLINKED).to == ["alice@example.com"]


def test_automatic_link_by_verified_email_is_notified(api, make_user, oidc):
    make_user("gina@example.com", password=None)
    oidc.add_user("gina", email="Gina@Example.com", email_verified=True)
    response = api.post(SOCIAL_URL, authorize(oidc, "gina"), format="json")
    assert response.status_code == 200, response.content
    assert only_notice(Event.SOCIAL_LINKED).to == ["gina@example.com"]


def test_ordinary_events_send_no_notice(api, user):
    tokens = login(api, user.email)
    client = client_for(tokens)
    again = client.post("/auth/reauthenticate/", {"password": PASSWORD}, format="json")
    assert again.status_code == 200
    assert refresh(api, tokens["refresh_token"]).status_code == 200
    assert client.get("/auth/me/").status_code == 200
    assert client.post("/auth/logout/").status_code == 204
    bad = api.post("/auth/login/", {"email": user.email, "password": "wrong"}, format="json")
    assert bad.status_code == 401
    assert notices() == []


# --- sign-in from a new device ----------------------------------------------------------


def test_first_sign_in_of_a_new_account_sends_none(api, db):
    response = api.post(
        "/auth/register/", {"email": "new@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    sign_in("new@example.com", FIREFOX_LINUX)
    assert notices() == []
    assert not AuditEvent.objects.filter(event="new_device_sign_in").exists()


def test_same_browser_os_and_type_sends_none(known_device, user):
    sign_in(user.email, CHROME_WINDOWS_LATER, ip="198.51.100.9")  # a newer Chrome, elsewhere
    sign_in(user.email, CHROME_WINDOWS)
    assert notices() == []
    assert not AuditEvent.objects.filter(event="new_device_sign_in").exists()


def test_another_device_is_notified(known_device, user):
    tokens = sign_in(user.email, FIREFOX_LINUX, ip="198.51.100.23")
    message = only_notice(Event.NEW_DEVICE_SIGN_IN)
    assert message.to == [user.email]
    assert message.subject == "New sign-in to your account"
    body = message.body
    assert "Firefox on Linux" in body  # the device's name
    assert "Browser: Firefox" in body
    assert "Operating system: Linux" in body
    assert "198.51.100.23" in body
    assert timezone.now().strftime("%Y-%m-%d") in body
    assert "http://localhost:3000/report-session?token=" in body
    assert report_token_in(message)

    event = AuditEvent.objects.get(event="new_device_sign_in")
    assert event.user_id == user.pk
    assert str(event.session_id) == tokens["session"]["id"]
    assert event.ip == "198.51.100.23"
    # Once seen, the device is known.
    sign_in(user.email, FIREFOX_LINUX)
    assert len(notices()) == 1


def test_report_link_follows_the_settings(known_device, user):
    with secureauth_settings(
        FRONTEND_URL="https://app.example.com/",
        SESSION_REPORT_URL="{frontend}/security/not-me?t={token}",
    ):
        sign_in(user.email, FIREFOX_LINUX)
    body = notices(NEW_DEVICE)[0].body
    assert "https://app.example.com/security/not-me?t=" in body


def test_the_mail_states_the_links_lifetime(known_device, user):
    sign_in(user.email, FIREFOX_LINUX)
    assert "it works once, for 24 hours" in notices(NEW_DEVICE)[0].body
    mail.outbox.clear()
    with secureauth_settings(SESSION_REPORT_LINK_LIFETIME=timedelta(minutes=90)):
        sign_in(
            user.email,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        )
    assert "it works once, for 90 minutes" in notices(NEW_DEVICE)[0].body


def test_a_device_not_seen_within_the_window_counts_as_new(known_device, user):
    Session.objects.filter(user=user).update(
        created_at=timezone.now() - timedelta(days=91), last_used_at=timezone.now()
    )
    sign_in(user.email, CHROME_WINDOWS)
    assert len(notices(NEW_DEVICE)) == 1
    assert AuditEvent.objects.filter(event="new_device_sign_in").count() == 1


def test_new_device_window_follows_the_setting(known_device, user):
    first = Session.objects.filter(user=user)
    with secureauth_settings(NEW_DEVICE_WINDOW=timedelta(days=7)):
        first.update(created_at=timezone.now() - timedelta(days=6))
        sign_in(user.email, CHROME_WINDOWS)
        assert notices() == []
        Session.objects.filter(user=user).update(created_at=timezone.now() - timedelta(days=8))
        sign_in(user.email, CHROME_WINDOWS)
        assert len(notices(NEW_DEVICE)) == 1


def test_a_revoked_session_still_makes_its_device_known(known_device, user):
    assert client_for(known_device).post("/auth/logout/").status_code == 204
    sign_in(user.email, CHROME_WINDOWS)
    assert notices() == []


def test_passkey_sign_in_from_a_new_device_is_notified(known_device, user):
    owner = client_for(sign_in(user.email, CHROME_WINDOWS))
    authenticator = SoftwareAuthenticator()
    add_passkey(owner, authenticator)
    mail.outbox.clear()
    api = APIClient(HTTP_USER_AGENT=FIREFOX_LINUX)
    begun = begin_login(api)
    response = complete_login(api, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 200, response.content
    assert "Browser: Firefox" in only_notice(Event.NEW_DEVICE_SIGN_IN).body


def test_the_time_of_a_notice_is_utc_whatever_the_time_zone(signed_in, user):
    """The body says "UTC": the time must be UTC even when TIME_ZONE is not."""
    client, _ = signed_in
    with override_settings(TIME_ZONE="America/New_York"):
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert client.post("/auth/password/change/", body, format="json").status_code == 204
    event = AuditEvent.objects.get(event="password_changed")
    when = event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"When: {when} UTC" in only_notice(Event.PASSWORD_CHANGED).body


def test_a_returning_user_whose_sessions_were_cleaned_up_is_notified(known_device, user):
    assert client_for(known_device).post("/auth/logout/").status_code == 204
    Session.objects.filter(user=user).update(revoked_at=timezone.now() - timedelta(days=60))
    call_command("secureauth_cleanup", stdout=io.StringIO())
    assert not Session.objects.filter(user=user).exists()
    sign_in(user.email, FIREFOX_LINUX)
    assert len(notices(NEW_DEVICE)) == 1


def test_failed_sign_ins_from_a_new_device_send_none(known_device, user):
    response = APIClient().post(
        "/auth/login/",
        {"email": user.email, "password": "wrong"},
        format="json",
        HTTP_USER_AGENT=FIREFOX_LINUX,
    )
    assert response.status_code == 401
    assert notices() == []


def test_new_device_with_mfa_is_notified_once_the_second_factor_passes(known_device, user):
    client = client_for(known_device)
    phone, _ = enable_totp(client)
    mail.outbox.clear()
    api = APIClient()
    challenge = api.post(
        "/auth/login/",
        {"email": user.email, "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT=FIREFOX_LINUX,
    ).json()
    assert challenge["mfa_required"] is True
    assert notices() == []  # no session yet
    verified = api.post(
        "/auth/mfa/verify/",
        {"mfa_token": challenge["mfa_token"], "code": phone.code()},
        format="json",
        HTTP_USER_AGENT=FIREFOX_LINUX,
    )
    assert verified.status_code == 200, verified.content
    message = only_notice(Event.NEW_DEVICE_SIGN_IN)
    assert "Firefox" in message.body


# --- sessions/report/ ("this wasn't me") ------------------------------------------------


@pytest.fixture
def intruder(known_device, user):
    """A sign-in from a new device: (its tokens, the report token of its mail)."""
    tokens = sign_in(user.email, FIREFOX_LINUX, ip="198.51.100.66")
    return tokens, report_token_in(notices(NEW_DEVICE)[0])


def test_report_revokes_that_session_at_once(intruder, known_device, user):
    tokens, token = intruder
    intruders = client_for(tokens)
    assert intruders.get("/auth/me/").status_code == 200

    response = report(token)
    assert response.status_code == 204, response.content

    refused = intruders.get("/auth/me/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "session_revoked"
    refreshed = refresh(APIClient(), tokens["refresh_token"])
    assert refreshed.status_code == 401
    assert refreshed.json()["code"] == "session_revoked"
    session = Session.objects.get(pk=tokens["session"]["id"])
    assert session.revoked_at is not None
    assert session.revoked_reason == "reported"
    event = AuditEvent.objects.get(event="session_reported")
    assert event.user_id == user.pk
    assert str(event.session_id) == tokens["session"]["id"]
    # Only that session: the owner's own stays signed in.
    assert client_for(known_device).get("/auth/me/").status_code == 200


def test_report_token_works_once(intruder):
    _, token = intruder
    assert report(token).status_code == 204
    again = report(token)
    assert again.status_code == 400
    assert again.json()["code"] == "invalid"
    assert AuditEvent.objects.filter(event="session_reported").count() == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: "not-a-token",
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: signing.dumps(signing.loads(token, salt="secureauth.session-report")),
        lambda token: signing.dumps(
            signing.loads(token, salt="secureauth.session-report"), salt="secureauth.other"
        ),
        lambda token: "",
    ],
    ids=["garbage", "tampered", "no-salt", "other-salt", "empty"],
)
def test_forged_report_tokens_are_invalid(intruder, forge):
    tokens, token = intruder
    response = report(forge(token))
    assert response.status_code == 400
    assert response.json().get("code") == "invalid" or "token" in response.json()
    assert client_for(tokens).get("/auth/me/").status_code == 200
    assert not AuditEvent.objects.filter(event="session_reported").exists()


def test_a_report_token_for_an_unknown_session_is_invalid(db):
    response = report(
        signing.dumps("9b5f9e3c-1111-4222-8333-444455556666", salt="secureauth.session-report")
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    response = report(signing.dumps("not a uuid", salt="secureauth.session-report"))
    assert response.status_code == 400


class _Later:
    """``time`` for django.core.signing, ``seconds`` in the future."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds


def test_report_token_expires_after_a_day(intruder, monkeypatch):
    tokens, token = intruder
    monkeypatch.setattr(signing, "time", _Later(24 * 3600 + 60))
    expired = report(token)
    assert expired.status_code == 400
    assert expired.json()["code"] == "invalid"
    monkeypatch.setattr(signing, "time", _Later(23 * 3600))
    assert report(token).status_code == 204


def test_report_token_lifetime_follows_the_setting(intruder, monkeypatch):
    _, token = intruder
    monkeypatch.setattr(signing, "time", _Later(3600 + 60))
    with secureauth_settings(SESSION_REPORT_LINK_LIFETIME=timedelta(hours=1)):
        assert report(token).status_code == 400
    assert report(token).status_code == 204


def test_report_needs_no_authentication_and_ignores_a_bearer(intruder, known_device):
    tokens, token = intruder
    # Sent with the intruder's own (valid) token, or a garbage one: the link alone decides.
    response = report(token, HTTP_AUTHORIZATION="Bearer garbage")
    assert response.status_code == 204
    assert client_for(tokens).get("/auth/me/").status_code == 401


def test_report_of_a_session_already_signed_out_still_works_once(intruder):
    tokens, token = intruder
    assert client_for(tokens).post("/auth/logout/").status_code == 204
    revoked_at = Session.objects.get(pk=tokens["session"]["id"]).revoked_at
    assert report(token).status_code == 204
    session = Session.objects.get(pk=tokens["session"]["id"])
    assert session.revoked_reason == "reported"
    assert session.revoked_at == revoked_at
    assert report(token).status_code == 400


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": ["x"]}, {"token": "x" * 600}])
def test_report_validates_the_body(db, body):
    response = APIClient().post(REPORT_URL, body, format="json")
    assert response.status_code == 400


def test_report_token_of_the_service_names_the_session(intruder):
    tokens, token = intruder
    session = Session.objects.get(pk=tokens["session"]["id"])
    assert signing.loads(report_token(session), salt="secureauth.session-report") == str(session.pk)


# --- mail after commit, never failing or slowing the request ------------------------


class FailingBackend(BaseEmailBackend):
    """An SMTP server that is down."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp down")


class SlowBackend(LocmemBackend):
    """An SMTP server that takes two seconds per message, then delivers to the outbox."""

    def send_messages(self, messages):
        time.sleep(2)
        return super().send_messages(messages)


def test_a_failing_mail_backend_does_not_fail_the_request(signed_in, user, caplog):
    client, _ = signed_in
    with override_settings(EMAIL_BACKEND=f"{__name__}.FailingBackend"):
        sign_in(user.email, FIREFOX_LINUX)  # a new-device notice, failing
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert client.post("/auth/password/change/", body, format="json").status_code == 204
    assert AuditEvent.objects.filter(event="password_changed").count() == 1
    assert AuditEvent.objects.filter(event="new_device_sign_in").count() == 1
    login(APIClient(), user.email, NEW_PASSWORD)
    assert "could not send mail" in caplog.text


def test_a_failing_background_backend_does_not_fail_the_request(signed_in, caplog):
    client, _ = signed_in
    with (
        override_settings(EMAIL_BACKEND=f"{__name__}.FailingBackend"),
        secureauth_settings(SEND_MAIL_IN_BACKGROUND=True),
    ):
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert client.post("/auth/password/change/", body, format="json").status_code == 204
        wait_for_background_mail()
    assert "could not send mail" in caplog.text


def test_background_mail_does_not_slow_the_request(signed_in, user):
    client, _ = signed_in
    with (
        override_settings(EMAIL_BACKEND=f"{__name__}.SlowBackend"),
        secureauth_settings(SEND_MAIL_IN_BACKGROUND=True),
    ):
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        started = time.monotonic()
        response = client.post("/auth/password/change/", body, format="json")
        elapsed = time.monotonic() - started
        assert response.status_code == 204
        assert elapsed < 1.5, elapsed
        assert notices() == []  # still being delivered
        wait_for_background_mail()
    assert only_notice(Event.PASSWORD_CHANGED).to == [user.email]


def test_the_slow_backend_would_slow_a_foreground_request(signed_in):
    """The control of the test above: delivered in the request thread, the same mail
    takes the backend's two seconds."""
    client, _ = signed_in
    with override_settings(EMAIL_BACKEND=f"{__name__}.SlowBackend"):
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        started = time.monotonic()
        assert client.post("/auth/password/change/", body, format="json").status_code == 204
        assert time.monotonic() - started >= 2
    assert len(notices()) == 1


# --- nothing is mailed for work that rolled back ------------------------------------


def test_a_failed_password_change_sends_nothing(signed_in, user):
    client, _ = signed_in
    wrong = {"current_password": "not it", "new_password": NEW_PASSWORD}
    assert client.post("/auth/password/change/", wrong, format="json").status_code == 400
    weak = {"current_password": PASSWORD, "new_password": "123"}
    assert client.post("/auth/password/change/", weak, format="json").status_code == 400
    assert notices() == []


def test_a_password_change_that_rolls_back_sends_nothing(signed_in, user, monkeypatch):
    """The audit row (and its notice) are written, then the transaction fails: the
    notice, queued for after the commit, is dropped with it."""
    client, _ = signed_in
    record = audit.record_event

    def record_then_fail(event, **kwargs):
        entry = record(event, **kwargs)
        if event == Event.PASSWORD_CHANGED:
            raise RuntimeError("the database went away after the audit row")
        return entry

    monkeypatch.setattr(audit, "record_event", record_then_fail)
    client.raise_request_exception = False
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = client.post("/auth/password/change/", body, format="json")
    assert response.status_code == 500
    assert notices() == []
    assert not AuditEvent.objects.filter(event="password_changed").exists()
    login(APIClient(), user.email)  # the old password still works


def test_notice_is_sent_only_when_the_outer_transaction_commits(user):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record_event(Event.PASSWORD_CHANGED, user=user)
        assert notices() == []
        raise RuntimeError("rolled back")
    assert notices() == []
    with transaction.atomic():
        audit.record_event(Event.PASSWORD_CHANGED, user=user)
        assert notices() == []  # not before the commit
    assert len(notices(NOTICES[Event.PASSWORD_CHANGED])) == 1


def test_a_template_that_fails_to_render_does_not_fail_the_request(
    signed_in, user, monkeypatch, caplog
):
    client, _ = signed_in

    def broken(*args, **kwargs):
        raise ValueError("a host project's template override is broken")

    monkeypatch.setattr("secureauth.mail.render_to_string", broken)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/auth/password/change/", body, format="json").status_code == 204
    assert AuditEvent.objects.filter(event="password_changed").exists()
    login(APIClient(), user.email, NEW_PASSWORD)
    assert notices() == []
    assert "could not render mail" in caplog.text


def test_no_notice_without_an_address(make_user):
    nobody = make_user()
    nobody.email = ""
    audit.record_event(Event.PASSWORD_CHANGED, user=nobody)
    audit.record_event(Event.PASSWORD_CHANGED)
    assert notices() == []


@pytest.mark.django_db(transaction=True)
def test_one_report_token_sent_at_once_revokes_once(make_user):
    """Six requests carry the same link at the same moment: one wins, the others are
    told the link is used; one ``session_reported`` event."""
    user = make_user("racer@example.com", verified=True)
    sign_in(user.email, CHROME_WINDOWS)
    tokens = sign_in(user.email, FIREFOX_LINUX)
    token = report_token_in(notices(NEW_DEVICE)[0])
    results = run_in_threads([lambda: report(token).status_code] * 6)
    assert Counter(results) == {204: 1, 400: 5}
    assert AuditEvent.objects.filter(event="session_reported").count() == 1
    assert client_for(tokens).get("/auth/me/").status_code == 401
