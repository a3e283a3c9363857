# ruff: noqa: F811  (the provider fixtures are imported from test_social and used as arguments)
"""Account linking and connected identities, against the local OpenID Connect provider.

A provider identity joins an existing account automatically only when the provider
vouches for the email and the account has no usable password; everything else is
``connect/`` by the signed-in owner, and only once the account's email is verified.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient
from social_django.models import UserSocialAuth

from secureauth.models import Session, VerifiedEmail
from tests.conftest import PASSWORD, bearer, login
from tests.test_social import URL, _provider_server, authorize, last_event, oidc  # noqa: F401

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


# -- linking by email -------------------------------------------------------------


def test_verified_email_links_an_account_without_password(api, make_user, oidc):
    user = make_user("gina@example.com", password=None)
    oidc.add_user("gina", email="Gina@Example.com", email_verified=True)

    response = api.post(URL, authorize(oidc, "gina"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)
    assert response.json()["user"]["email_verified"] is True
    assert UserSocialAuth.objects.get(provider="oidc").user == user
    assert last_event("social_linked").detail["by_verified_email"] is True


def test_pre_registered_account_with_a_password_is_not_linked(api, make_user, oidc):
    """Account pre-hijacking: someone registers the victim's address with a password of
    their own. The victim's provider sign-in must not join that account (the password
    and the squatter's sessions would stay a way in): 409, and nothing changes."""
    squatter = make_user("hal@example.com")  # address never verified
    their_session = login(api, "hal@example.com")
    oidc.add_user("hal", email="hal@example.com", email_verified=True)

    response = api.post(URL, authorize(oidc, "hal"), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"
    assert not UserSocialAuth.objects.exists()
    assert Session.objects.filter(user=squatter).count() == 1
    assert api.get("/auth/me/", **bearer(their_session)).json()["email_verified"] is False
    assert last_event("login_failed").detail["reason"] == "account_exists"


def test_verified_account_with_a_password_links_through_connect(api, make_user, oidc):
    user = make_user("ivan@example.com", verified=True)
    oidc.add_user("ivan", email="ivan@example.com", email_verified=True)
    assert api.post(URL, authorize(oidc, "ivan"), format="json").status_code == 409

    tokens = login(api, "ivan@example.com")  # the owner signs in, then links
    linked = api.post(URL + "connect/", authorize(oidc, "ivan"), format="json", **bearer(tokens))
    assert linked.status_code == 201, linked.content
    signed = api.post(URL, authorize(oidc, "ivan"), format="json")
    assert signed.status_code == 200 and signed.json()["user"]["id"] == str(user.pk)
    login(api, "ivan@example.com", PASSWORD)  # the password is untouched


def test_unverified_provider_email_matching_an_account_is_refused(api, make_user, oidc):
    make_user("ivy@example.com", password=None)
    oidc.add_user("ivy", email="ivy@example.com", email_verified=False)
    response = api.post(URL, authorize(oidc, "ivy"), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"
    assert not UserSocialAuth.objects.exists()


def test_auto_link_can_be_switched_off(api, make_user, oidc):
    make_user("jon@example.com", password=None)
    oidc.add_user("jon", email="jon@example.com", email_verified=True)
    with override_settings(SECUREAUTH={"SOCIAL_AUTO_LINK_VERIFIED_EMAIL": False}):
        response = api.post(URL, authorize(oidc, "jon"), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"


# -- connections ----------------------------------------------------------------------


def test_connect_list_and_unlink(signed_in, oidc, user):
    api, tokens = signed_in
    oidc.add_user("alice-idp", email="alice.other@example.org")
    response = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert response.status_code == 201, response.content
    connection = response.json()
    assert set(connection) == {"id", "provider", "uid", "created_at"}
    assert connection["provider"] == "oidc"
    assert connection["uid"] == oidc.users["alice-idp"].sub
    assert last_event("social_linked").user == user
    # The provider-verified address is recorded for the user.
    assert VerifiedEmail.objects.filter(user=user, email="alice.other@example.org").exists()

    again = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert again.status_code == 201 and again.json() == connection

    listed = api.get("/auth/social/connections/")
    assert listed.status_code == 200 and listed.json() == [connection]

    # The identity now signs the same user in.
    signed = api.post(URL, authorize(oidc, "alice-idp"), format="json")
    assert signed.json()["user"]["id"] == str(user.pk)

    deleted = api.delete(f"/auth/social/connections/{connection['id']}/")
    assert deleted.status_code == 204
    assert api.get("/auth/social/connections/").json() == []
    assert last_event("social_unlinked").detail["provider"] == "oidc"


def test_linking_a_provider_ends_the_other_sessions(signed_in, oidc, user):
    """A new way to sign in is a factor change, as a passkey or TOTP is: the user's
    other sessions (one a thief may hold) end at once, the caller's stays."""
    api, tokens = signed_in
    other = login(APIClient(), user.email)
    oidc.add_user("alice-idp", email="alice.other@example.org")

    response = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert response.status_code == 201, response.content
    elsewhere = APIClient().get("/auth/me/", **bearer(other))
    assert elsewhere.status_code == 401 and elsewhere.json()["code"] == "session_revoked"
    assert api.get("/auth/me/").status_code == 200
    assert last_event("social_linked").detail["sessions_revoked"] == 1
    # Linking the same identity again adds nothing and ends nothing.
    third = login(APIClient(), user.email)
    again = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert again.status_code == 201
    assert APIClient().get("/auth/me/", **bearer(third)).status_code == 200


def test_unlinking_a_provider_ends_the_other_sessions(signed_in, oidc, user):
    api, tokens = signed_in
    oidc.add_user("alice-idp", email="alice.other@example.org")
    connection = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json").json()
    other = login(APIClient(), user.email)

    assert api.delete(f"/auth/social/connections/{connection['id']}/").status_code == 204
    elsewhere = APIClient().get("/auth/me/", **bearer(other))
    assert elsewhere.status_code == 401 and elsewhere.json()["code"] == "session_revoked"
    assert api.get("/auth/me/").status_code == 200
    assert last_event("social_unlinked").detail["sessions_revoked"] == 1


def test_connect_needs_a_verified_email(api, db, oidc):
    """An unverified account may be a squatter's: it gains no way to sign in (here the
    squatter's own provider identity) before the address is proven."""
    assert (
        api.post(
            "/auth/register/", {"email": "kai@example.com", "password": PASSWORD}, format="json"
        ).status_code
        == 201
    )
    tokens = login(api, "kai@example.com")
    oidc.add_user("squatter", email="squatter@example.net")
    for body in (authorize(oidc, "squatter"), {"access_token": "x"}, {}):
        response = api.post(URL + "connect/", body, format="json", **bearer(tokens))
        assert response.status_code == 403, body
        assert response.json()["code"] == "email_unverified"
    assert not oidc.token_requests  # refused before the provider was contacted
    assert not UserSocialAuth.objects.exists()


def test_connect_identity_of_another_user_conflicts(api, make_user, oidc):
    oidc.add_user("vic", email="vic@example.com")
    assert api.post(URL, authorize(oidc, "vic"), format="json").status_code == 200
    other = make_user("walt@example.com", verified=True)
    tokens = login(api, other.email)
    response = api.post(URL + "connect/", authorize(oidc, "vic"), format="json", **bearer(tokens))
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"


def test_connect_requires_bearer(api, db, oidc):
    response = api.post(URL + "connect/", {"access_token": "x"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_last_way_to_sign_in_cannot_be_unlinked(api, db, oidc):
    oidc.add_user("xena", email="xena@example.com")
    tokens = api.post(URL, authorize(oidc, "xena"), format="json").json()
    connections = api.get("/auth/social/connections/", **bearer(tokens)).json()
    response = api.delete(f"/auth/social/connections/{connections[0]['id']}/", **bearer(tokens))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid"
    assert UserSocialAuth.objects.count() == 1


def test_unlink_of_unknown_or_another_users_connection_is_not_found(signed_in, make_user, oidc):
    api, _ = signed_in
    oidc.add_user("yan", email="yan@example.com")
    stranger = APIClient()
    other = stranger.post(URL, authorize(oidc, "yan"), format="json").json()
    theirs = stranger.get("/auth/social/connections/", **bearer(other)).json()[0]["id"]
    for connection_id in (theirs, "999999", "abc", "9" * 40):
        response = api.delete(f"/auth/social/connections/{connection_id}/")
        assert response.status_code == 404, connection_id
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("spelling", ["²", "٣", "fullwidth", "%20{id}", "{id}%0A", "+{id}"])
def test_connection_ids_are_ascii_digits(signed_in, oidc, spelling):
    """'²'.isdigit() is True but int('²') fails (was a 500); int('１') is 1, another
    spelling of an id. Only the id's own ASCII digits name a connection."""
    api, _ = signed_in
    oidc.add_user("zed", email="zed@example.com")
    connection = api.post(URL + "connect/", authorize(oidc, "zed"), format="json").json()
    own = connection["id"]
    connection_id = own.translate(FULLWIDTH) if spelling == "fullwidth" else spelling
    response = api.delete(f"/auth/social/connections/{connection_id.format(id=own)}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert UserSocialAuth.objects.filter(pk=int(own)).exists()
