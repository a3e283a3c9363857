"""The Django admin: read-only security tables, revocation through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from secureauth import signals
from secureauth.admin import SessionInline, UserSessionsAdminMixin, extend_user_admin
from secureauth.models import (
    AuditEvent,
    MFAChallenge,
    Passkey,
    RefreshToken,
    Session,
    VerifiedEmail,
)

from .conftest import bearer, login

User = get_user_model()
USER_ADMIN = f"admin:{User._meta.app_label}_{User._meta.model_name}"


@pytest.fixture
def staff(make_user) -> Client:
    boss = make_user("boss@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    return client


@pytest.fixture
def alice_signed_in(api, user):
    return login(api, user.email, device_name="Alice's laptop")


def changelist(model) -> str:
    return reverse(f"admin:secureauth_{model._meta.model_name}_changelist")


def change(model, pk) -> str:
    return reverse(f"admin:secureauth_{model._meta.model_name}_change", args=[pk])


# Sessions


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=alice",
        "?status=active",
        "?status=revoked",
        "?status=expired",
        "?device_type__exact=desktop",
        "?revoked_reason__exact=admin",
        "?" + urlencode({"created_at__gte": timezone.now() - timedelta(days=7)}),
        f"?created_at__year={timezone.now().year}",
    ],
)
def test_session_changelist_renders_with_filters(staff, alice_signed_in, query):
    response = staff.get(changelist(Session) + query)
    assert response.status_code == 200
    assert b"Revoke selected sessions" in response.content


def test_session_status_filter_and_search(staff, user, make_user, alice_signed_in):
    session = Session.objects.get(user=user)
    other = make_user("bob@example.com")
    now = timezone.now()
    Session.objects.create(user=other, device_name="Old phone", expires_at=now - timedelta(days=1))
    Session.objects.create(
        user=other,
        device_name="Revoked tablet",
        expires_at=now + timedelta(days=1),
        revoked_at=now,
        revoked_reason="logout",
    )

    def listed(query: str) -> set[str]:
        result = staff.get(changelist(Session) + query).context["cl"].result_list
        return {s.device_name for s in result}

    assert listed("?status=active") == {session.device_name}
    assert listed("?status=expired") == {"Old phone"}
    assert listed("?status=revoked") == {"Revoked tablet"}
    assert listed("?q=bob@example") == {"Old phone", "Revoked tablet"}
    page = staff.get(changelist(Session) + "?status=revoked").content.decode()
    assert "revoked (Logout)" in page


def test_session_change_page_is_read_only_and_shows_no_hashes(staff, api, alice_signed_in):
    api.post("/auth/refresh/", {"refresh_token": alice_signed_in["refresh_token"]}, format="json")
    session = Session.objects.get()
    response = staff.get(change(Session, session.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Alice&#x27;s laptop" in page
    assert 'name="_save"' not in page
    for token in RefreshToken.objects.filter(session=session):
        assert bytes(token.token_hash).hex() not in page
        assert f"<td>{token.pk}</td>" in page
    assert alice_signed_in["refresh_token"] not in page
    assert staff.post(change(Session, session.pk), {"device_name": "x"}).status_code == 403
    assert staff.get(reverse("admin:secureauth_session_add")).status_code == 403
    delete = reverse("admin:secureauth_session_delete", args=[session.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    assert Session.objects.get().device_name == "Alice's laptop"


def test_revoke_selected_sessions_goes_through_the_service(staff, api, user, alice_signed_in):
    other_tokens = login(api, user.email)
    session = Session.objects.get(pk=Session.objects.order_by("created_at").first().pk)
    reasons = []
    signals.session_revoked.connect(receiver := lambda **kw: reasons.append(kw["reason"]))
    try:
        response = staff.post(
            changelist(Session),
            {"action": "revoke_selected", "_selected_action": [str(session.pk)]},
            follow=True,
        )
    finally:
        signals.session_revoked.disconnect(receiver)
    assert response.status_code == 200
    assert b"Revoked 1 session." in response.content
    session.refresh_from_db()
    assert session.revoked_at is not None and session.revoked_reason == "admin"
    assert reasons == ["admin"]
    event = AuditEvent.objects.get(event="session_revoked")
    assert event.user == user and event.session == session
    assert event.detail == {"reason": "admin"}
    refused = api.get("/auth/me/", **bearer(alice_signed_in))
    assert refused.status_code == 401 and refused.json()["code"] == "session_revoked"
    assert api.get("/auth/me/", **bearer(other_tokens)).status_code == 200
    # Selecting it again revokes nothing and writes no second event.
    staff.post(
        changelist(Session), {"action": "revoke_selected", "_selected_action": [str(session.pk)]}
    )
    assert AuditEvent.objects.filter(event="session_revoked").count() == 1


def test_revoke_one_session_from_its_link(staff, api, user, alice_signed_in):
    session = Session.objects.get()
    url = reverse("admin:secureauth_session_revoke", args=[session.pk])
    back = reverse(f"{USER_ADMIN}_change", args=[user.pk])
    confirm = staff.get(url, {"next": back})
    assert confirm.status_code == 200 and b"Yes, revoke it" in confirm.content
    assert Session.objects.get().revoked_at is None

    response = staff.post(url, {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Session.objects.get().revoked_reason == "admin"
    assert AuditEvent.objects.filter(event="session_revoked", user=user).count() == 1
    assert api.get("/auth/me/", **bearer(alice_signed_in)).status_code == 401

    # An off-site "next" is ignored.
    response = staff.post(url, {"next": "https://evil.example/"})
    assert response["Location"] == change(Session, session.pk)
    assert staff.get(reverse("admin:secureauth_session_revoke", args=["nope"])).status_code == 404


def test_view_only_staff_cannot_revoke(make_user, alice_signed_in):
    viewer = make_user("viewer@example.com", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_session", content_type__app_label="secureauth")
    )
    client = Client()
    client.force_login(viewer)
    session = Session.objects.get(user__email="alice@example.com")
    page = client.get(changelist(Session))
    assert page.status_code == 200 and b"Revoke selected sessions" not in page.content
    client.post(
        changelist(Session), {"action": "revoke_selected", "_selected_action": [str(session.pk)]}
    )
    url = reverse("admin:secureauth_session_revoke", args=[session.pk])
    assert client.post(url).status_code == 403
    assert Session.objects.get(pk=session.pk).revoked_at is None


# Audit events


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?event=login_succeeded",
        "?user_email=alice@example.com",
        "?q=alice",
        f"?created_at__year={timezone.now().year}",
        "?" + urlencode({"created_at__gte": timezone.now() - timedelta(days=7)}),
    ],
)
def test_audit_changelist_renders_with_filters(staff, alice_signed_in, query):
    response = staff.get(changelist(AuditEvent) + query)
    assert response.status_code == 200


def test_audit_filters_select_events(staff, user, make_user, alice_signed_in):
    AuditEvent.objects.create(event="logout", user=make_user("bob@example.com"))

    def listed(query: str) -> list[tuple[str, str]]:
        result = staff.get(changelist(AuditEvent) + query).context["cl"].result_list
        return sorted((e.event, e.user.email) for e in result)

    assert listed("?event=logout") == [("logout", "bob@example.com")]
    assert listed("?user_email=ALICE@example.com") == [("login_succeeded", "alice@example.com")]
    assert listed(f"?user__id__exact={user.pk}") == [("login_succeeded", "alice@example.com")]
    page = staff.get(changelist(AuditEvent) + "?event=logout").content.decode()
    assert 'name="user_email"' in page  # the email box keeps the other filters
    assert 'type="hidden" name="event" value="logout"' in page


def test_audit_admin_is_read_only(staff, alice_signed_in):
    event = AuditEvent.objects.get(event="login_succeeded")
    assert staff.get(reverse("admin:secureauth_auditevent_add")).status_code == 403
    page = staff.get(change(AuditEvent, event.pk))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert staff.post(change(AuditEvent, event.pk), {"event": "forged"}).status_code == 403
    delete = reverse("admin:secureauth_auditevent_delete", args=[event.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    bulk = staff.post(
        changelist(AuditEvent),
        {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.get(pk=event.pk).event == "login_succeeded"
    model_admin = admin.site.get_model_admin(AuditEvent)
    request = page.wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert model_admin.has_view_permission(request, event)


# Other read-only tables never show secrets


def test_other_security_tables_render_without_secrets(staff, user):
    now = timezone.now()
    challenge = MFAChallenge.objects.create(
        user=user, token_hash="9" * 64, expires_at=now + timedelta(minutes=5)
    )
    passkey = Passkey.objects.create(
        user=user,
        name="YubiKey",
        credential_id=b"credential",
        credential_id_hash="8" * 64,
        public_key=b"public",
    )
    email = VerifiedEmail.objects.get(user=user, email=user.email)
    for model, obj in ((MFAChallenge, challenge), (Passkey, passkey), (VerifiedEmail, email)):
        assert staff.get(changelist(model) + "?q=alice").status_code == 200
        page = staff.get(change(model, obj.pk))
        assert page.status_code == 200 and b'name="_save"' not in page.content
        assert b"9" * 64 not in page.content and b"8" * 64 not in page.content
        add = reverse(f"admin:secureauth_{model._meta.model_name}_add")
        assert staff.get(add).status_code == 403


# The user page


def test_user_page_shows_sessions_inline(staff, user, alice_signed_in):
    session = Session.objects.get()
    response = staff.get(reverse(f"{USER_ADMIN}_change", args=[user.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Alice&#x27;s laptop" in page
    revoke = reverse("admin:secureauth_session_revoke", args=[session.pk])
    back = urlencode({"next": reverse(f"{USER_ADMIN}_change", args=[user.pk])})
    assert f"{revoke}?{back}".replace("&", "&amp;") in page
    assert 'name="secureauth_sessions-0-device_name"' not in page  # read-only


def test_user_page_still_saves(staff, user, alice_signed_in):
    url = reverse(f"{USER_ADMIN}_change", args=[user.pk])
    form = staff.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "username": user.username,
            "email": user.email,
            "first_name": "Alice",
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "groups": [],
            "user_permissions": [],
            "secureauth_sessions-TOTAL_FORMS": "1",
            "secureauth_sessions-INITIAL_FORMS": "1",
            "secureauth_sessions-MIN_NUM_FORMS": "0",
            "secureauth_sessions-MAX_NUM_FORMS": "1000",
            "secureauth_sessions-0-id": str(Session.objects.get().pk),
            "secureauth_sessions-0-user": str(user.pk),
        }
    )
    data.pop("password", None)
    data.pop("last_login", None)
    response = staff.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.first_name == "Alice"
    assert Session.objects.get().revoked_at is None


def test_revoke_all_sessions_action_on_users(staff, api, user, make_user, alice_signed_in):
    second = login(api, user.email)
    bob = make_user("bob@example.com")
    bob_tokens = login(api, bob.email)
    response = staff.post(
        reverse(f"{USER_ADMIN}_changelist"),
        {"action": "revoke_all_sessions", "_selected_action": [str(user.pk)]},
        follow=True,
    )
    assert b"Revoked 2 sessions." in response.content
    assert not Session.objects.active_for(user).exists()
    assert set(Session.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {
        "admin"
    }
    events = AuditEvent.objects.filter(event="session_revoked", user=user)
    boss = User.objects.get(email="boss@example.com")
    assert [e.detail for e in events] == [{"reason": "admin", "actor": str(boss.pk)}] * 2
    for tokens in (alice_signed_in, second):
        assert api.get("/auth/me/", **bearer(tokens)).status_code == 401
    assert api.get("/auth/me/", **bearer(bob_tokens)).status_code == 200


# Registration on the user admin is defensive


def test_extend_user_admin_keeps_a_custom_user_admin():
    class CustomUserAdmin(UserAdmin):
        list_display = ("email", "is_staff")
        inlines = ()

    site = AdminSite(name="custom")
    assert extend_user_admin(site) is False  # nothing registered: left alone
    site.register(User, CustomUserAdmin)
    assert extend_user_admin(site) is True
    extended = site.get_model_admin(User)
    assert isinstance(extended, CustomUserAdmin) and isinstance(extended, UserSessionsAdminMixin)
    assert extended.list_display == ("email", "is_staff")
    assert extend_user_admin(site) is False  # idempotent
    assert isinstance(admin.site.get_model_admin(User), UserSessionsAdminMixin)


def test_inline_is_added_only_on_the_change_page(rf, user):
    model_admin = admin.site.get_model_admin(User)
    request = rf.get("/")
    request.user = user
    assert SessionInline not in model_admin.get_inlines(request, None)
    assert SessionInline in model_admin.get_inlines(request, user)
