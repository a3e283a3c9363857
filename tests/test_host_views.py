"""SecureAuth's authentication and permission classes in a host project's own views."""

from __future__ import annotations

from secureauth.models import VerifiedEmail
from tests.conftest import bearer, login, stale_tokens


def test_recency_and_verified_email_permissions_work_in_a_host_view(api, user, make_user):
    """In a host's view with DRF's own exception handler they answer 401/403, never 500."""
    tokens = login(api, user.email)
    assert api.get("/test/host-view/", **bearer(tokens)).status_code == 200
    stale = api.get("/test/host-view/", **bearer(stale_tokens(api, tokens)))
    assert stale.status_code == 401
    assert stale["WWW-Authenticate"].startswith('Bearer error="insufficient_user_authentication"')
    VerifiedEmail.objects.filter(user=user).delete()
    unverified = api.get("/test/host-view/", **bearer(login(api, user.email)))
    assert unverified.status_code == 403


def test_me_costs_one_query(api, user, django_assert_num_queries):
    """The authentication query loads the user, the session's state and the user's
    SecurityState together: GET me/ is that one query."""
    tokens = login(api, user.email)
    with django_assert_num_queries(1):
        response = api.get("/auth/me/", **bearer(tokens))
    assert response.status_code == 200
    assert response.json()["email_verified"] is True


def test_a_host_view_costs_one_query(api, user, django_assert_num_queries):
    tokens = login(api, user.email)
    with django_assert_num_queries(1):
        assert api.get("/test/mfa-only/", **bearer(tokens)).status_code == 403
