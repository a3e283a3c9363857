"""Passkeys (WebAuthn) through the HTTP API, with a real software authenticator."""

from __future__ import annotations

import threading
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from secureauth.models import AuditEvent, Passkey, Session, VerifiedEmail, WebAuthnChallenge
from secureauth.services.passkeys import amr_for
from tests.conftest import bearer, login, postgres_only, stale_tokens
from tests.webauthn_authenticator import (
    ExcludedCredential,
    SoftwareAuthenticator,
    b64url,
    from_b64url,
)

PASSKEY_FIELDS = {"id", "name", "created_at", "last_used_at"}


def begin_registration(client: APIClient) -> dict:
    response = client.post("/auth/passkeys/register/begin/", format="json")
    assert response.status_code == 200, response.content
    return response.json()


def complete_registration(client: APIClient, credential, name: str | None = None):
    body = {"credential": credential}
    if name is not None:
        body["name"] = name
    return client.post("/auth/passkeys/register/complete/", body, format="json")


def add_passkey(client: APIClient, authenticator: SoftwareAuthenticator, name: str = "") -> dict:
    credential = authenticator.create(begin_registration(client))
    response = complete_registration(client, credential, name)
    assert response.status_code == 201, response.content
    return response.json()


def begin_login(api: APIClient, email: str | None = None) -> dict:
    body = {"email": email} if email is not None else {}
    response = api.post("/auth/passkeys/login/begin/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def complete_login(api: APIClient, challenge_id: str, credential):
    body = {"challenge_id": challenge_id, "credential": credential}
    return api.post("/auth/passkeys/login/complete/", body, format="json")


def passkey_login(api: APIClient, authenticator, email: str | None = None, **assertion):
    begun = begin_login(api, email)
    return complete_login(
        api, begun["challenge_id"], authenticator.get(begun["options"], **assertion)
    )


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


@pytest.fixture
def authenticator() -> SoftwareAuthenticator:
    return SoftwareAuthenticator()


@pytest.fixture
def enrolled(user, authenticator):
    """(client signed in with a password, its tokens, the authenticator, the passkey object).

    Its own client: ``api`` stays without a Bearer token, so a passkey login through it
    is a sign-in, not a re-authentication."""
    client = APIClient()
    tokens = login(client, user.email)
    client.credentials(**bearer(tokens))
    passkey = add_passkey(client, authenticator, "Laptop")
    return client, tokens, authenticator, passkey


# Registration


def test_registration_options(signed_in, user):
    client, _ = signed_in
    options = begin_registration(client)
    assert options["rp"] == {"name": "SecureAuth", "id": "localhost"}
    assert options["user"]["name"] == user.email
    assert len(from_b64url(options["user"]["id"])) == 32
    assert len(from_b64url(options["challenge"])) == 32
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["excludeCredentials"] == []
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert WebAuthnChallenge.objects.filter(user=user, purpose="register").count() == 1


def test_registration_needs_a_bearer_token(api, db):
    assert api.post("/auth/passkeys/register/begin/").status_code == 401
    response = api.post("/auth/passkeys/register/complete/", {"credential": {}}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert api.get("/auth/passkeys/").status_code == 401


def test_register_list_and_audit(enrolled, user):
    client, tokens, _, passkey = enrolled
    assert set(passkey) == PASSKEY_FIELDS
    assert passkey["name"] == "Laptop"
    assert passkey["last_used_at"] is None
    listed = client.get("/auth/passkeys/")
    assert listed.status_code == 200
    assert listed.json() == [passkey]
    event = AuditEvent.objects.get(event="passkey_added")
    assert event.user_id == user.pk
    assert str(event.session_id) == tokens["session"]["id"]
    assert event.detail["passkey"] == passkey["id"]


def test_default_name_and_user_handle_is_stable(signed_in, user):
    client, _ = signed_in
    first = add_passkey(client, SoftwareAuthenticator())
    assert first["name"] == "Passkey"
    handle = begin_registration(client)["user"]["id"]
    add_passkey(client, SoftwareAuthenticator())
    assert begin_registration(client)["user"]["id"] == handle
    stored = {bytes(p.user_handle) for p in Passkey.objects.filter(user=user)}
    assert stored == {from_b64url(handle)}


def test_existing_credentials_are_excluded(enrolled):
    client, _, authenticator, _ = enrolled
    options = begin_registration(client)
    assert [from_b64url(c["id"]) for c in options["excludeCredentials"]] == [
        authenticator.only_credential_id
    ]
    assert options["excludeCredentials"][0]["transports"] == ["internal", "hybrid"]
    with pytest.raises(ExcludedCredential):
        authenticator.create(options)


def test_same_credential_cannot_be_registered_twice(signed_in, make_user):
    client, _ = signed_in
    authenticator = SoftwareAuthenticator()
    add_passkey(client, authenticator)
    existing = authenticator.only_credential_id
    again = authenticator.create(begin_registration(client), reattest=existing)
    response = complete_registration(client, again)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    # Nor to another account.
    bob = APIClient()
    bob.credentials(**bearer(login(bob, make_user(verified=True).email)))
    stolen = authenticator.create(begin_registration(bob), reattest=existing)
    assert complete_registration(bob, stolen).status_code == 400
    assert Passkey.objects.count() == 1


def test_raw_id_must_match_the_attested_credential(signed_in):
    client, _ = signed_in
    credential = SoftwareAuthenticator().create(begin_registration(client))
    credential["id"] = credential["rawId"] = b64url(b"another id")
    assert complete_registration(client, credential).status_code == 400


def test_adding_a_passkey_revokes_other_sessions(api, signed_in, user):
    client, tokens = signed_in
    other = login(APIClient(), user.email)
    add_passkey(client, SoftwareAuthenticator())
    revoked = APIClient().get("/auth/me/", **bearer(other))
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "session_revoked"
    assert client.get("/auth/me/").status_code == 200
    assert Session.objects.get(pk=other["session"]["id"]).revoked_reason == "mfa_changed"
    assert AuditEvent.objects.get(event="passkey_added").detail["sessions_revoked"] == 1


def test_registration_challenge_is_single_use(signed_in):
    client, _ = signed_in
    credential = SoftwareAuthenticator().create(begin_registration(client))
    assert complete_registration(client, credential).status_code == 201
    replay = complete_registration(client, credential)
    assert replay.status_code == 400
    assert replay.json()["code"] == "invalid"


def test_registration_challenge_expires(signed_in):
    client, _ = signed_in
    credential = SoftwareAuthenticator().create(begin_registration(client))
    WebAuthnChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = complete_registration(client, credential)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The passkey challenge is unknown, used or expired.",
        "code": "invalid",
    }


def test_registration_challenge_of_another_user_is_refused(signed_in, make_user):
    client, _ = signed_in
    other = APIClient()
    other.credentials(**bearer(login(other, make_user(verified=True).email)))
    credential = SoftwareAuthenticator().create(begin_registration(other))
    assert complete_registration(client, credential).status_code == 400
    assert complete_registration(other, credential).status_code == 201


@pytest.mark.parametrize(
    "create_kwargs",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"challenge": b64url(b"x" * 32)},
    ],
)
def test_registration_with_wrong_origin_rp_or_challenge_is_refused(signed_in, create_kwargs):
    client, _ = signed_in
    credential = SoftwareAuthenticator().create(begin_registration(client), **create_kwargs)
    response = complete_registration(client, credential)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert Passkey.objects.count() == 0


def test_registration_requires_user_verification(signed_in):
    client, _ = signed_in
    credential = SoftwareAuthenticator(user_verified=False).create(begin_registration(client))
    assert complete_registration(client, credential).status_code == 400


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": 1},
        {"id": "a", "rawId": "a", "type": "public-key", "response": {}},
        {
            "id": "a",
            "rawId": "a",
            "type": "public-key",
            "response": {"clientDataJSON": "!!!", "attestationObject": "%%%"},
        },
        {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {"clientDataJSON": b64url(b"{}"), "attestationObject": b64url(b"\xff")},
        },
    ],
)
def test_malformed_registration_credential_is_a_400(signed_in, credential):
    client, _ = signed_in
    begin_registration(client)
    response = complete_registration(client, credential)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("body", [{}, {"credential": "text"}, {"credential": [1]}])
def test_registration_body_validation(signed_in, body):
    client, _ = signed_in
    response = client.post("/auth/passkeys/register/complete/", body, format="json")
    assert response.status_code == 400
    assert "credential" in response.json()


# Sign-in


def test_login_with_email(api, enrolled, user):
    _, _, authenticator, passkey = enrolled
    begun = begin_login(api, user.email.upper())
    # Always discoverable credentials: the options never reveal which ids an account has.
    assert begun["options"].get("allowCredentials", []) == []
    assert begun["options"]["userVerification"] == "required"
    assert begun["options"]["rpId"] == "localhost"
    response = complete_login(api, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["user"]["id"] == str(user.pk)
    assert tokens["session"]["current"] is True
    assert claims(tokens)["amr"] == ["hwk"]
    assert Session.objects.get(pk=tokens["session"]["id"]).amr == ["hwk"]
    assert response["Cache-Control"] == "no-store"
    assert APIClient().get("/auth/me/", **bearer(tokens)).json()["id"] == str(user.pk)
    event = AuditEvent.objects.filter(event="login_succeeded").latest("created_at")
    assert event.detail["method"] == "passkey"
    assert event.detail["passkey"] == passkey["id"]
    assert event.detail["amr"] == ["hwk"]
    assert str(event.session_id) == tokens["session"]["id"]


def test_discoverable_login_without_email(api, enrolled, user):
    _, _, authenticator, _ = enrolled
    begun = begin_login(api)
    assert begun["options"]["allowCredentials"] == []
    response = complete_login(api, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == user.email


def test_discoverable_login_needs_the_user_handle(api, enrolled):
    _, _, authenticator, _ = enrolled
    response = passkey_login(api, authenticator, send_user_handle=False)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_login_updates_counter_and_last_used(api, enrolled):
    client, _, authenticator, passkey = enrolled
    for expected in (1, 2, 3):
        assert passkey_login(api, authenticator).status_code == 200
        assert Passkey.objects.get(pk=passkey["id"]).sign_count == expected
    listed = client.get("/auth/passkeys/").json()
    assert listed[0]["last_used_at"] is not None


def test_cloned_authenticator_is_refused_and_audited(api, enrolled, user):
    _, _, authenticator, passkey = enrolled
    clone = authenticator.clone()
    assert passkey_login(api, authenticator).status_code == 200  # counter 1
    response = passkey_login(api, clone)  # the clone also says 1
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    event = AuditEvent.objects.get(event="passkey_clone_detected")
    assert event.user_id == user.pk
    assert event.detail == {
        "passkey": passkey["id"],
        "stored_sign_count": 1,
        "received_sign_count": 1,
    }
    assert Passkey.objects.get(pk=passkey["id"]).sign_count == 1


def test_counter_going_back_to_zero_is_a_clone(api, enrolled):
    _, _, authenticator, _ = enrolled
    assert passkey_login(api, authenticator).status_code == 200
    assert passkey_login(api, authenticator, sign_count=0).status_code == 401
    assert AuditEvent.objects.filter(event="passkey_clone_detected").count() == 1


def test_authenticator_without_counter_is_accepted(api, signed_in):
    client, _ = signed_in
    authenticator = SoftwareAuthenticator(counter_step=0)
    add_passkey(client, authenticator)
    for _ in range(3):
        assert passkey_login(api, authenticator).status_code == 200
    assert not AuditEvent.objects.filter(event="passkey_clone_detected").exists()


def test_synced_passkey_gives_swk(api, signed_in):
    client, _ = signed_in
    authenticator = SoftwareAuthenticator(backup_eligible=True, backed_up=True)
    add_passkey(client, authenticator)
    response = passkey_login(APIClient(), authenticator)
    assert response.status_code == 200
    assert claims(response.json())["amr"] == ["swk"]


def test_login_challenge_is_single_use(api, enrolled):
    _, _, authenticator, _ = enrolled
    begun = begin_login(api)
    assertion = authenticator.get(begun["options"])
    assert complete_login(api, begun["challenge_id"], assertion).status_code == 200
    replay = complete_login(api, begun["challenge_id"], assertion)
    assert replay.status_code == 400
    assert replay.json()["code"] == "invalid"


def test_assertion_for_another_challenge_is_refused(api, enrolled):
    _, _, authenticator, _ = enrolled
    first, second = begin_login(api), begin_login(api)
    response = complete_login(api, second["challenge_id"], authenticator.get(first["options"]))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_login_challenge_expires(api, enrolled):
    _, _, authenticator, _ = enrolled
    begun = begin_login(api)
    WebAuthnChallenge.objects.filter(pk=begun["challenge_id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = complete_login(api, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "assertion",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}],
)
def test_login_with_wrong_origin_or_rp_is_refused(api, enrolled, user, assertion):
    _, _, authenticator, _ = enrolled
    response = passkey_login(
        api, authenticator, credential_id=authenticator.only_credential_id, **assertion
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    failed = AuditEvent.objects.get(event="login_failed")
    assert failed.user_id == user.pk
    assert failed.detail["reason"] == "verification_failed"


def test_login_without_user_verification_is_refused(api, enrolled):
    _, _, authenticator, _ = enrolled
    authenticator.user_verified = False
    assert passkey_login(api, authenticator).status_code == 401


def test_tampered_signature_is_refused(api, enrolled):
    _, _, authenticator, _ = enrolled
    begun = begin_login(api)
    assertion = authenticator.get(begun["options"])
    signature = bytearray(from_b64url(assertion["response"]["signature"]))
    signature[-1] ^= 1
    assertion["response"]["signature"] = b64url(bytes(signature))
    assert complete_login(api, begun["challenge_id"], assertion).status_code == 401


def test_unknown_credential_is_refused(api, enrolled):
    stranger = SoftwareAuthenticator()
    stranger.create(
        {"rp": {"id": "localhost"}, "user": {"id": b64url(b"u" * 32)}, "challenge": "AA"}
    )
    response = passkey_login(api, stranger)
    assert response.status_code == 401
    assert AuditEvent.objects.get(event="login_failed").detail["reason"] == "unknown_credential"


def test_email_login_refuses_another_users_credential(api, enrolled, user, make_user):
    bob = APIClient()
    bob.credentials(**bearer(login(bob, make_user(verified=True).email)))
    bobs_key = SoftwareAuthenticator()
    add_passkey(bob, bobs_key)
    begun = begin_login(api, user.email)
    assertion = bobs_key.get(begun["options"], credential_id=bobs_key.only_credential_id)
    response = complete_login(api, begun["challenge_id"], assertion)
    assert response.status_code == 401


def test_inactive_user_cannot_sign_in(api, enrolled, user):
    _, _, authenticator, _ = enrolled
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert passkey_login(api, authenticator).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"challenge_id": "not-a-uuid", "credential": {}},
        {"challenge_id": "00000000-0000-0000-0000-000000000000", "credential": {}},
        {"credential": {}},
        {"challenge_id": "x"},
        {"challenge_id": "x", "credential": "text"},
    ],
)
def test_bad_login_bodies_are_400(api, db, body):
    response = api.post("/auth/passkeys/login/complete/", body, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": "a", "rawId": "a", "type": "public-key", "response": {"clientDataJSON": "a"}},
        {"id": "a", "rawId": "a", "type": "nope", "response": {}},
        {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {
                "clientDataJSON": "!!",
                "authenticatorData": "??",
                "signature": "AA",
                "userHandle": 5,
            },
        },
    ],
)
def test_malformed_assertion_is_a_400(api, db, credential):
    begun = begin_login(api)
    response = complete_login(api, begun["challenge_id"], credential)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_garbage_inside_a_known_credential_is_refused_not_500(api, enrolled):
    _, _, authenticator, _ = enrolled
    begun = begin_login(api)
    assertion = authenticator.get(begun["options"])
    assertion["response"]["authenticatorData"] = b64url(b"short")
    assertion["response"]["clientDataJSON"] = b64url(b"[not json")
    response = complete_login(api, begun["challenge_id"], assertion)
    assert response.status_code == 401


def test_unknown_email_looks_like_a_known_one(api, enrolled, user, make_user):
    """The options are the same whatever the email: always discoverable credentials,
    so nothing in them (ids, their number or length, transports) tells an account
    with passkeys from one without or from no account at all."""
    _, _, authenticator, _ = enrolled

    def shape(options: dict) -> dict:
        return {k: v for k, v in options.items() if k != "challenge"}

    known = begin_login(api, user.email)["options"]
    unknown = begin_login(api, "ghost@example.com")["options"]
    no_passkeys = begin_login(api, make_user().email)["options"]
    anonymous = begin_login(api)["options"]
    assert shape(known) == shape(unknown) == shape(no_passkeys) == shape(anonymous)
    assert known.get("allowCredentials", []) == []
    # A challenge given for an unknown email is answered by no passkey.
    begun = begin_login(api, "ghost@example.com")
    response = complete_login(api, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 401


def test_delete_requires_the_password_or_a_recent_sign_in(api, enrolled, user):
    client, tokens, _, passkey = enrolled
    other = login(APIClient(), user.email)
    tokens = stale_tokens(client, tokens)
    client.credentials(**bearer(tokens))
    url = f"/auth/passkeys/{passkey['id']}/"
    missing = client.delete(url, format="json")
    assert missing.status_code == 401
    assert missing.json()["code"] == "reauthentication_required"
    assert missing["WWW-Authenticate"] == (
        'Bearer error="insufficient_user_authentication", max_age=300'
    )
    wrong = client.delete(url, {"password": "wrong password"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_credentials"
    assert Passkey.objects.filter(pk=passkey["id"]).exists()
    assert (
        client.delete(url, {"password": "correct horse battery staple"}, format="json").status_code
        == 204
    )
    assert client.get("/auth/passkeys/").json() == []
    event = AuditEvent.objects.get(event="passkey_removed")
    assert event.detail["passkey"] == passkey["id"]
    assert event.detail["sessions_revoked"] == 1
    assert APIClient().get("/auth/me/", **bearer(other)).json()["code"] == "session_revoked"
    assert APIClient().get("/auth/me/", **bearer(tokens)).status_code == 200


def test_wrong_passwords_on_delete_are_rate_limited(enrolled):
    client, _, _, passkey = enrolled
    url = f"/auth/passkeys/{passkey['id']}/"
    codes = [client.delete(url, {"password": "nope"}, format="json").status_code for _ in range(7)]
    assert codes[:5] == [400] * 5
    assert codes[-1] == 429


def test_delete_unknown_or_another_users_passkey_is_404(enrolled, make_user):
    client, _, _, passkey = enrolled
    bob = APIClient()
    bob.credentials(**bearer(login(bob, make_user().email)))
    for url in (
        f"/auth/passkeys/{passkey['id']}/",
        "/auth/passkeys/00000000-0000-0000-0000-000000000000/",
        "/auth/passkeys/not-a-uuid/",
    ):
        response = bob.delete(url, {"password": "correct horse battery staple"}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert Passkey.objects.filter(pk=passkey["id"]).exists()


def test_user_without_password_proves_with_a_fresh_passkey_sign_in(enrolled, user):
    _, _, authenticator, passkey = enrolled
    api = APIClient()
    user.set_unusable_password()
    user.save(update_fields=["password"])
    tokens = passkey_login(api, authenticator).json()
    url = f"/auth/passkeys/{passkey['id']}/"
    stale = api.delete(url, format="json", **bearer(stale_tokens(api, tokens)))
    assert stale.status_code == 401
    assert stale.json()["code"] == "reauthentication_required"
    fresh = passkey_login(api, authenticator).json()
    assert api.delete(url, format="json", **bearer(fresh)).status_code == 204


# Service rules and concurrency


@pytest.mark.parametrize(
    ("verified", "device_type", "amr"),
    [
        (True, "single_device", ["hwk"]),
        (True, "multi_device", ["swk"]),
        (False, "single_device", ["swk"]),
    ],
)
def test_amr_rule(verified, device_type, amr):
    assert amr_for(verified, device_type) == amr


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_clones_cannot_both_sign_in(make_user):
    user = make_user(verified=True)
    client = APIClient()
    client.credentials(**bearer(login(client, user.email)))
    authenticator = SoftwareAuthenticator()
    add_passkey(client, authenticator)
    clone = authenticator.clone()
    api = APIClient()
    attempts = []
    for key in (authenticator, clone):
        begun = begin_login(api)
        attempts.append((begun["challenge_id"], key.get(begun["options"])))
    barrier = threading.Barrier(len(attempts))
    statuses = []

    def attempt(challenge_id, assertion):
        try:
            barrier.wait()
            statuses.append(complete_login(APIClient(), challenge_id, assertion).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=a) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401]
    assert AuditEvent.objects.filter(event="passkey_clone_detected").count() == 1


def test_unverified_email_cannot_sign_in_with_a_passkey_when_required(api, enrolled, user):
    _, _, authenticator, _ = enrolled
    VerifiedEmail.objects.filter(user=user).delete()
    with override_settings(SECUREAUTH={**settings.SECUREAUTH, "ALLOW_UNVERIFIED_LOGIN": False}):
        response = passkey_login(api, authenticator)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
