"""The core flows, written once for any AUTH_USER_MODEL.

Not collected by the main run (the name does not match ``test_*.py``):
``tests/test_user_models.py`` runs this file in a pytest subprocess per settings
module (Django's ``auth.User``, ``user_models.EmailUser``, ``user_models.HandleUser``),
because AUTH_USER_MODEL cannot change inside one Django process. Everything goes
through the HTTP API or the management commands; the only model-specific knowledge
is what Django's own API says (``USERNAME_FIELD``, ``get_email_field_name()``).
"""

from __future__ import annotations

import itertools
import re
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from rest_framework.test import APIClient

from secureauth.models import Session, VerifiedEmail
from tests.conftest import PASSWORD, bearer, login, refresh
from tests.oidc_provider import OIDCProvider
from tests.test_social import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, authorize
from tests.webauthn_authenticator import SoftwareAuthenticator

NEW_PASSWORD = "a different horse, battery and staple"
#: Longer than HandleUser's 32-character handle: its USERNAME_FIELD is derived.
LONG_EMAIL = "a.rather.long.address.for.a.handle@example.com"
_counter = itertools.count()

User = get_user_model()
EMAIL_FIELD = User.get_email_field_name()


def username_limit() -> int | None:
    return User._meta.get_field(User.USERNAME_FIELD).max_length


@pytest.fixture
def make_user(db):
    """Overrides tests/conftest.py's (which passes ``username=``): a user made by the
    model's own manager, as ``createsuperuser`` or a host's code would make it."""

    def make(email: str | None = None, password: str | None = PASSWORD, verified=False):
        email = email or f"user{next(_counter)}@example.com"
        fields = {EMAIL_FIELD: email}
        if User.USERNAME_FIELD != EMAIL_FIELD:
            fields[User.USERNAME_FIELD] = f"own{next(_counter)}"
        user = User._default_manager.create_user(password=password, **fields)
        if verified:
            VerifiedEmail.objects.create(user=user, email=email)
        return user

    return make


def register(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/auth/register/", {"email": email, "password": password}, format="json")


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


def link_in_last_mail() -> dict[str, str]:
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    query = parse_qs(urlsplit(link).query)
    return {"uid": query["uid"][0], "token": query["token"][0]}


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_system_checks_pass_and_the_migrations_are_current(db):
    """``manage.py check`` has nothing to say about this user model (nor a warning)."""
    call_command("check", fail_level="WARNING", stdout=StringIO(), stderr=StringIO())
    if apps.is_installed("tests.user_models"):
        call_command("makemigrations", "user_models", check=True, dry_run=True, stdout=StringIO())


# --- register, login, refresh, me ------------------------------------------------------


@pytest.mark.parametrize("email", ["ada@example.com", LONG_EMAIL])
def test_register_login_refresh_me(api, db, email):
    response = register(api, email.upper().replace("@EXAMPLE.COM", "@Example.com"))
    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == email

    user = User._default_manager.get(**{EMAIL_FIELD: email})
    login_name = user.get_username()
    limit = username_limit()
    if User.USERNAME_FIELD == EMAIL_FIELD or limit is None or len(email) <= limit:
        assert login_name == email
    else:  # derived to fit the field (DefaultAdapter.username_for)
        assert len(login_name) <= limit and login_name.startswith("a.rather")

    tokens = login(api, email)
    assert claims(tokens)["sub"] == str(user.pk)
    assert tokens["user"] == {
        "id": str(user.pk),
        "email": email,
        "roles": [],
        "email_verified": False,
        "mfa_enabled": False,
        "date_joined": tokens["user"]["date_joined"],
    }
    assert (tokens["user"]["date_joined"] is None) == (not hasattr(user, "date_joined"))

    renewed = refresh(api, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.content
    me = api.get("/auth/me/", **bearer(renewed.json()))
    assert me.status_code == 200, me.content
    assert me.json() == tokens["user"]

    # The email's uniqueness is SecureAuth's, whatever the model declares.
    taken = register(APIClient(), email.upper())
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"


def test_two_long_addresses_get_distinct_login_names(api, db):
    first = register(api, "same.long.prefix.for.two.addresses.1@example.com")
    second = register(api, "same.long.prefix.for.two.addresses.2@example.com")
    assert first.status_code == second.status_code == 201
    assert User._default_manager.count() == 2
    assert len({u.get_username() for u in User._default_manager.all()}) == 2


def test_email_verification_link(api, db):
    assert register(api, "ver@example.com").status_code == 201
    response = api.post("/auth/email/verify/", link_in_last_mail(), format="json")
    assert response.status_code == 204, response.content
    assert login(api, "ver@example.com")["user"]["email_verified"] is True


def test_a_user_made_by_the_models_manager_signs_in(api, make_user):
    user = make_user("Grace@Example.com")
    tokens = login(api, "grace@example.com")
    assert tokens["user"]["id"] == str(user.pk)
    wrong = api.post(
        "/auth/login/", {"email": "grace@example.com", "password": "nope"}, format="json"
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"


# --- password reset --------------------------------------------------------------------


def test_password_reset_request_and_confirm(api, make_user):
    user = make_user("reset@example.com")
    old = login(APIClient(), user.email)
    mail.outbox.clear()
    response = api.post("/auth/password/reset/", {"email": "RESET@example.com"}, format="json")
    assert response.status_code == 202
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["reset@example.com"]

    body = {**link_in_last_mail(), "new_password": NEW_PASSWORD}
    confirmed = api.post("/auth/password/reset/confirm/", body, format="json")
    assert confirmed.status_code == 204, confirmed.content
    login(api, user.email, NEW_PASSWORD)
    refused = api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    assert refused.status_code == 401
    assert api.get("/auth/me/", **bearer(old)).status_code == 401  # sessions ended


# --- passkeys --------------------------------------------------------------------------


def test_passkey_registration_needs_a_verified_email_then_signs_in(api, make_user):
    user = make_user("pk@example.com")
    client = APIClient()
    client.credentials(**bearer(login(client, user.email)))
    refused = client.post("/auth/passkeys/register/begin/", format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "email_unverified"

    VerifiedEmail.objects.create(user=user, email="pk@example.com")
    begun = client.post("/auth/passkeys/register/begin/", format="json")
    assert begun.status_code == 200, begun.content
    options = begun.json()
    assert options["user"]["name"] == options["user"]["displayName"] == "pk@example.com"

    authenticator = SoftwareAuthenticator()
    body = {"credential": authenticator.create(options), "name": "Laptop"}
    added = client.post("/auth/passkeys/register/complete/", body, format="json")
    assert added.status_code == 201, added.content

    login_options = api.post("/auth/passkeys/login/begin/", {}, format="json").json()
    signed = api.post(
        "/auth/passkeys/login/complete/",
        {
            "challenge_id": login_options["challenge_id"],
            "credential": authenticator.get(login_options["options"]),
        },
        format="json",
    )
    assert signed.status_code == 200, signed.content
    assert signed.json()["user"]["id"] == str(user.pk)


# --- social sign-in --------------------------------------------------------------------


@pytest.fixture(scope="module")
def _provider_server():
    provider = OIDCProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc(_provider_server, settings) -> OIDCProvider:
    provider = _provider_server
    provider.reset()
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    settings.SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = provider.issuer
    settings.SOCIAL_AUTH_OIDC_KEY = CLIENT_ID
    settings.SOCIAL_AUTH_OIDC_SECRET = CLIENT_SECRET
    return provider


@pytest.mark.parametrize("email", ["carol@example.com", "carol.has.a.long.address@example.com"])
def test_social_sign_in_creates_then_finds_the_user(api, db, oidc, email):
    oidc.add_user("carol", email=email.title(), email_verified=True, name="Carol")
    first = api.post("/auth/social/oidc/", authorize(oidc, "carol"), format="json")
    assert first.status_code == 200, first.content
    assert first.json()["user"]["email"] == email
    assert first.json()["user"]["email_verified"] is True
    user = User._default_manager.get(**{EMAIL_FIELD: email})
    assert not user.has_usable_password()
    assert user.get_username()  # filled in, within the field's length
    assert len(user.get_username()) <= (username_limit() or len(user.get_username()))

    again = api.post("/auth/social/oidc/", authorize(oidc, "carol"), format="json")
    assert again.status_code == 200, again.content
    assert again.json()["user"]["id"] == str(user.pk)
    assert User._default_manager.count() == 1


def test_social_sign_in_links_a_passwordless_account(api, make_user, oidc):
    user = make_user("dave@example.com", password=None)
    oidc.add_user("dave", email="dave@example.com", email_verified=True)
    response = api.post("/auth/social/oidc/", authorize(oidc, "dave"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)


# --- management commands ---------------------------------------------------------------


def test_roles_revoke_and_cleanup_commands(api, make_user):
    user = make_user("ops@example.com")
    assert "admin, staff" in run("secureauth_roles", "OPS@example.com", "--add", "admin", "staff")
    assert "Roles of ops@example.com: admin" in run(
        "secureauth_roles", "ops@example.com", "--remove", "staff"
    )
    tokens = login(api, user.email)
    assert claims(tokens)["roles"] == ["admin"] and tokens["user"]["roles"] == ["admin"]
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]

    assert "Revoked 1 session of ops@example.com." in run("secureauth_revoke", "ops@example.com")
    response = api.get("/auth/me/", **bearer(tokens))
    assert response.status_code == 401 and response.json()["code"] == "session_revoked"

    output = run("secureauth_cleanup")
    assert "Cleanup done" in output
    assert Session.objects.filter(user=user).exists()  # revoked recently: kept for now


# --- the admin -------------------------------------------------------------------------


def test_admin_sign_in_and_security_tables(api, make_user):
    """The admin's login form asks for the USERNAME_FIELD; the session and audit tables
    find users by their email field."""
    staff = make_user("root@example.com")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    login(api, staff.email)  # a session and audit events to list
    browser = APIClient(enforce_csrf_checks=False)
    signed = browser.post(
        "/admin/login/?next=/admin/",
        {"username": staff.get_username(), "password": PASSWORD},
    )
    assert signed.status_code == 302, signed.content.decode()[:2000]
    for page in ("session", "auditevent"):
        response = browser.get(f"/admin/secureauth/{page}/", {"q": "root@example"})
        assert response.status_code == 200, page
        assert str(staff) in response.content.decode(), page  # found by its email
