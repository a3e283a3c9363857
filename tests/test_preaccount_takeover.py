# ruff: noqa: F811  (the provider fixtures are imported from test_social and used as arguments)
"""Account pre-hijacking: an attacker registers the victim's address before the victim
does, with a password of their own, and tries to plant a second way in (a passkey, a
TOTP device, a provider identity) that would outlive the victim's recovery of the
account. Until the address is verified, none can be added (403 email_unverified). When
the victim recovers the account through the reset link mailed to the address, the
attacker's password and every one of their sessions stop working, the address counts
as verified, and only then can the (real) owner add other sign-in methods.

The provider side of the same attack (a verified provider email never joins an
account that has a password) is in ``test_social_linking.py``
(``test_pre_registered_account_with_a_password_is_not_linked``); here it is played
through register/ with another spelling of the address, and to the end of recovery.
"""

from __future__ import annotations

import os

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from social_django.models import UserSocialAuth

from secureauth.models import Passkey, VerifiedEmail, WebAuthnChallenge
from tests.conftest import bearer, login, refresh
from tests.test_mfa import enable_totp
from tests.test_passkeys import add_passkey, begin_login, complete_login
from tests.test_password import confirm_reset, request_reset, reset_link
from tests.test_social import URL, _provider_server, authorize, oidc  # noqa: F401
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url

VICTIM = "victim@example.com"
ATTACKER_PASSWORD = "the attacker's own passphrase 42"
VICTIM_PASSWORD = "the victim's recovered passphrase 7"


def unverified(response) -> bool:
    return response.status_code == 403 and response.json()["code"] == "email_unverified"


def forged_registration(authenticator: SoftwareAuthenticator) -> dict:
    """A well-formed attestation for creation options the server never gave (the
    attacker cannot get any): complete/ must refuse it before looking at it."""
    options = {
        "rp": {"id": "localhost", "name": "SecureAuth"},
        "user": {"id": b64url(os.urandom(32)), "name": VICTIM, "displayName": VICTIM},
        "challenge": b64url(os.urandom(32)),
        "excludeCredentials": [],
    }
    return authenticator.create(options)


@pytest.fixture
def squatter(db):
    """The attacker's client, signed in to the account they registered with the
    victim's address (another spelling of it), and that account's token response."""
    client = APIClient()
    response = client.post(
        "/auth/register/",
        {"email": "Victim@EXAMPLE.com", "password": ATTACKER_PASSWORD},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["user"]["email_verified"] is False
    tokens = login(client, VICTIM, ATTACKER_PASSWORD)
    client.credentials(**bearer(tokens))
    mail.outbox.clear()  # the verification mail went to the victim's mailbox
    return client, tokens


def test_an_unverified_account_gains_no_other_way_to_sign_in(squatter, oidc):
    client, tokens = squatter
    oidc.add_user("attacker-idp", email="attacker@evil.example", email_verified=True)
    # The attacker's sign-in is fresh: what refuses them is the unproven address,
    # not re-authentication (which they could pass with their own password anyway).
    reauth = client.post("/auth/reauthenticate/", {"password": ATTACKER_PASSWORD}, format="json")
    assert reauth.status_code == 200, reauth.content
    client.credentials(**bearer(reauth.json()))

    attempts = {
        "passkeys/register/begin/": {},
        "passkeys/register/complete/": {
            "credential": forged_registration(SoftwareAuthenticator()),
            "name": "Attacker's key",
        },
        "mfa/totp/setup/": {},
        "mfa/totp/confirm/": {"code": "123456"},
        "social/oidc/connect/": authorize(oidc, "attacker-idp"),
    }
    for path, body in attempts.items():
        response = client.post(f"/auth/{path}", body, format="json")
        assert unverified(response), (path, response.status_code, response.content)

    assert not Passkey.objects.exists()
    assert not WebAuthnChallenge.objects.filter(purpose="register").exists()
    assert not TOTPDevice.objects.exists()
    assert not UserSocialAuth.objects.exists()
    assert not oidc.token_requests  # refused before the provider was contacted
    assert client.get("/auth/passkeys/").json() == []
    assert client.get("/auth/social/connections/").json() == []
    assert client.get("/auth/me/").json()["mfa_enabled"] is False


def test_the_victim_recovers_the_account_with_a_password_reset(squatter):
    attacker, attacker_tokens = squatter
    second_device = login(APIClient(), VICTIM, ATTACKER_PASSWORD)

    # The victim asks for a reset (any spelling); the link goes to the stored address.
    assert request_reset(APIClient(), "VICTIM@example.com").status_code == 202
    assert [m.to for m in mail.outbox] == [[VICTIM]]
    link = reset_link()
    victim = APIClient()
    assert confirm_reset(victim, link["uid"], link["token"], VICTIM_PASSWORD).status_code == 204

    # Every session of the attacker is over: access tokens and refresh tokens.
    for tokens in (attacker_tokens, second_device):
        me = APIClient().get("/auth/me/", **bearer(tokens))
        assert me.status_code == 401 and me.json()["code"] == "session_revoked"
        refreshed = refresh(APIClient(), tokens["refresh_token"])
        assert refreshed.status_code == 401, refreshed.content
        assert refreshed.json()["code"] == "session_revoked"
    # The attacker's password is gone.
    response = APIClient().post(
        "/auth/login/", {"email": VICTIM, "password": ATTACKER_PASSWORD}, format="json"
    )
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"

    # Opening the mailed link proved the address.
    tokens = login(victim, VICTIM, VICTIM_PASSWORD)
    assert tokens["user"]["email_verified"] is True
    assert VerifiedEmail.objects.filter(email=VICTIM).count() == 1

    # The owner can now add other ways to sign in.
    victim.credentials(**bearer(tokens))
    authenticator = SoftwareAuthenticator()
    add_passkey(victim, authenticator, "Victim's laptop")
    phone, recovery_codes = enable_totp(victim)
    assert len(recovery_codes) == 10
    assert victim.get("/auth/me/").json()["mfa_enabled"] is True
    begun = begin_login(APIClient(), VICTIM)
    signed = complete_login(APIClient(), begun["challenge_id"], authenticator.get(begun["options"]))
    assert signed.status_code == 200, signed.content
    assert signed.json()["user"]["id"] == tokens["user"]["id"]


def test_a_reset_link_requested_before_the_attackers_password_change_still_recovers(squatter):
    """The attacker changing "their" password voids the pending link (it is bound to the
    password hash), but the victim simply asks for another: the attacker can delay the
    recovery, never prevent it."""
    attacker, _ = squatter
    request_reset(APIClient(), VICTIM)
    stale = reset_link()
    changed = attacker.post(
        "/auth/password/change/",
        {"current_password": ATTACKER_PASSWORD, "new_password": "yet another attacker pass 9"},
        format="json",
    )
    assert changed.status_code == 204, changed.content
    assert confirm_reset(APIClient(), stale["uid"], stale["token"]).status_code == 400

    request_reset(APIClient(), VICTIM)
    fresh = reset_link()
    assert (
        confirm_reset(APIClient(), fresh["uid"], fresh["token"], VICTIM_PASSWORD).status_code == 204
    )
    assert attacker.get("/auth/me/").json()["code"] == "session_revoked"
    assert login(APIClient(), VICTIM, VICTIM_PASSWORD)["user"]["email_verified"] is True


@pytest.mark.parametrize("provider_email", ["victim@example.com", "VICTIM@Example.COM"])
def test_a_verified_provider_email_does_not_join_the_squatted_account(
    squatter, oidc, provider_email
):
    """The victim signs in with a provider that vouches for the address (in whatever
    spelling): the account has the attacker's password, so 409 account_exists and no
    link. After recovering the account, the victim links the provider through
    connect/."""
    attacker, attacker_tokens = squatter
    oidc.add_user("victim-idp", email=provider_email, email_verified=True)

    response = APIClient().post(URL, authorize(oidc, "victim-idp"), format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "account_exists"
    assert not UserSocialAuth.objects.exists()
    # Nothing about the account changed: still the attacker's, still unverified.
    me = attacker.get("/auth/me/")
    assert me.status_code == 200 and me.json()["email_verified"] is False
    assert not VerifiedEmail.objects.exists()

    # Recovery, then the provider is linked by the owner, signed in.
    request_reset(APIClient(), VICTIM)
    link = reset_link()
    assert (
        confirm_reset(APIClient(), link["uid"], link["token"], VICTIM_PASSWORD).status_code == 204
    )
    victim = APIClient()
    tokens = login(victim, VICTIM, VICTIM_PASSWORD)
    # Still 409: the account has a password (now the victim's); linking is connect/'s.
    again = APIClient().post(URL, authorize(oidc, "victim-idp"), format="json")
    assert again.status_code == 409 and again.json()["code"] == "account_exists"
    linked = victim.post(
        URL + "connect/", authorize(oidc, "victim-idp"), format="json", **bearer(tokens)
    )
    assert linked.status_code == 201, linked.content
    signed = APIClient().post(URL, authorize(oidc, "victim-idp"), format="json")
    assert signed.status_code == 200 and signed.json()["user"]["id"] == tokens["user"]["id"]
    assert APIClient().get("/auth/me/", **bearer(attacker_tokens)).status_code == 401
