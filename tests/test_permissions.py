"""HasRole, HasAnyRole, HasPermission, IsMFAAuthenticated on a host project's views,
alone and composed with &, |, ~."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from secureauth.authentication import AccessTokenAuthentication
from secureauth.client import ClientInfo
from secureauth.models.users import load_security_state
from secureauth.permissions import HasAnyRole, HasPermission, HasRole, IsMFAAuthenticated
from secureauth.services.sessions import start_session
from tests.conftest import bearer, login

pytestmark = pytest.mark.urls("tests.test_permissions")


def protected(*permissions):
    """A host project's view, as docs/roles.md shows it."""

    class View(APIView):
        authentication_classes = [AccessTokenAuthentication]
        permission_classes = list(permissions)

        def get(self, request):
            return Response({"ok": True})

    return View.as_view()


class Document:
    pass


class ObjectView(APIView):
    """Runs the object-level check too, as a generic detail view does."""

    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [IsAuthenticated & ~HasRole("banned")]

    def get(self, request):
        self.check_object_permissions(request, Document())
        return Response({"ok": True})


VIEWS = {
    "role": protected(HasRole("admin")),
    "roles-all": protected(HasRole("admin", "staff")),
    "any": protected(HasAnyRole("admin", "staff")),
    "perm": protected(HasPermission("auth.view_user")),
    "mfa": protected(IsMFAAuthenticated),
    "mfa-instance": protected(IsMFAAuthenticated()),
    "and": protected(HasRole("staff") & IsMFAAuthenticated),
    "or": protected(HasRole("admin") | HasPermission("auth.view_user")),
    "not": protected(IsAuthenticated & ~HasRole("banned")),
    "class-first": protected(IsMFAAuthenticated | HasRole("admin")),
    "object": ObjectView.as_view(),
}

urlpatterns = [
    path("auth/", include("secureauth.urls")),
    *(path(f"t/{name}/", view) for name, view in VIEWS.items()),
]


def tokens_for(user, amr=("pwd",)) -> dict:
    """Sign in without HTTP, with chosen sign-in methods (as MFA verify would)."""
    load_security_state(user)
    issued = start_session(user, ClientInfo(), list(amr))
    return {"access_token": issued.access_token}


def status(api, name, tokens=None) -> int:
    return api.get(f"/t/{name}/", **(bearer(tokens) if tokens else {})).status_code


EXPECTED = {
    # name:        (no roles, staff, admin, admin+staff, banned, view_user perm)
    "role": (403, 403, 200, 200, 403, 403),
    "roles-all": (403, 403, 403, 200, 403, 403),
    "any": (403, 200, 200, 200, 403, 403),
    "perm": (403, 403, 403, 403, 403, 200),
    "or": (403, 403, 200, 200, 403, 200),
    "not": (200, 200, 200, 200, 403, 200),
    "object": (200, 200, 200, 200, 403, 200),
    "and": (403, 403, 403, 403, 403, 403),  # no second factor in these tokens
}


def test_role_and_permission_classes(api, make_user):
    perm = Permission.objects.get(codename="view_user", content_type__app_label="auth")
    holder = make_user("perm@example.com", roles=["auditors"])
    Group.objects.get(name="auditors").permissions.add(perm)
    people = [
        make_user("plain@example.com"),
        make_user("staff@example.com", roles=["staff"]),
        make_user("admin@example.com", roles=["admin"]),
        make_user("both@example.com", roles=["admin", "staff"]),
        make_user("banned@example.com", roles=["banned"]),
        holder,
    ]
    tokens = [login(api, p.email) for p in people]
    for name, expected in EXPECTED.items():
        got = tuple(status(api, name, t) for t in tokens)
        assert got == expected, name


def test_anonymous_gets_401_and_a_refused_user_403(api, make_user):
    for name in VIEWS:
        response = api.get(f"/t/{name}/")
        assert response.status_code == 401, name
    tokens = login(api, make_user().email)
    response = api.get("/t/role/", **bearer(tokens))
    assert response.status_code == 403
    assert response.json()["detail"] == "This action requires the role(s): admin."


def test_is_mfa_authenticated_reads_the_token_amr(api, make_user):
    staff = make_user("s@example.com", roles=["staff"])
    password_only = tokens_for(staff, ["pwd"])
    with_otp = tokens_for(staff, ["pwd", "otp"])
    with_passkey = tokens_for(staff, ["hwk"])
    for name in ("mfa", "mfa-instance", "and", "class-first"):
        assert status(api, name, password_only) == 403, name
        assert status(api, name, with_otp) == 200, name
        assert status(api, name, with_passkey) == 200, name
    response = api.get("/t/mfa/", **bearer(password_only))
    assert "second factor" in response.json()["detail"]


def test_role_checks_read_the_database_not_the_token(api, make_user):
    user = make_user("promoted@example.com")
    tokens = login(api, user.email)
    assert status(api, "role", tokens) == 403
    user.groups.add(Group.objects.create(name="admin"))
    assert status(api, "role", tokens) == 200


def test_constructors_refuse_nonsense():
    for factory in (HasRole, HasAnyRole, HasPermission):
        with pytest.raises(TypeError):
            factory()
        with pytest.raises(TypeError):
            factory("")
    assert repr(HasRole("b", "a")) == "HasRole('a', 'b')"
