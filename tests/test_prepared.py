"""Statements compiled once (secureauth.models.prepared) give what the ORM gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.utils import timezone

from secureauth.adapter import get_adapter
from secureauth.client import DeviceInfo
from secureauth.models import Account, AuditEvent, RefreshToken, Session
from secureauth.models.prepared import PreparedInsert, PreparedLookup, PreparedUpdate
from secureauth.models.users import (
    USER_BY_EMAIL_KEY,
    record_last_login,
    users_by_email_key,
    users_with_security_state,
)
from secureauth.services.users import find_user_by_email

from .conftest import login

pytestmark = pytest.mark.django_db

CHROME = DeviceInfo(browser="Chrome", os="Linux", type="desktop", model="")
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def test_the_user_lookup_matches_the_queryset(user):
    key = Account.objects.get(user=user).email_key
    prepared = USER_BY_EMAIL_KEY.first(key)
    plain = users_by_email_key(users_with_security_state(), key).get()
    assert prepared is not None and prepared.pk == plain.pk == user.pk
    for name in ("sa_roles", "sa_mfa_enabled", "sa_email_verified", "sa_credential_epoch"):
        assert getattr(prepared, name) == getattr(plain, name), name
    assert prepared.password == plain.password and prepared._state.adding is False
    assert USER_BY_EMAIL_KEY.first("nobody@example.com") is None


def test_an_adapter_that_narrows_the_users_still_gets_its_own_queryset(user):
    """The compiled lookup serves only SecureAuth's own base queryset."""
    users = get_user_model()._default_manager.filter(is_staff=True)
    assert get_adapter().find_user_by_email(user.email, users) is None
    assert find_user_by_email(user.email).pk == user.pk


def test_the_sign_in_lock_reads_the_device_kind_in_the_same_query(
    api, user, django_assert_num_queries
):
    since = timezone.now() - timedelta(days=1)
    with django_assert_num_queries(1):
        first = Account.objects.lock_for_sign_in(user, CHROME, since)
    assert first.sa_device_seen is False
    api.credentials(HTTP_USER_AGENT=CHROME_UA)
    login(api, user.email)
    assert Account.objects.lock_for_sign_in(user, CHROME, since).sa_device_seen is True
    firefox = DeviceInfo(browser="Firefox", os="Linux", type="desktop", model="")
    assert Account.objects.lock_for_sign_in(user, firefox, since).sa_device_seen is False
    later = timezone.now() + timedelta(seconds=5)
    assert Account.objects.lock_for_sign_in(user, CHROME, later).sa_device_seen is False


def test_the_sign_in_lock_creates_a_missing_account_row(user):
    Account.objects.filter(user=user).delete()
    account = Account.objects.lock_for_sign_in(user, CHROME, timezone.now())
    assert account.user_id == user.pk and Account.objects.filter(user=user).exists()


def test_a_lookup_must_place_every_value():
    lookup = PreparedLookup(
        "test_unused_slot",
        lambda key, _unused: Account.objects.filter(email_key=key),
        lambda: [Account._meta.get_field("email_key"), Account._meta.get_field("email_key")],
    )
    with pytest.raises(ValueError, match="each of its slots"):
        lookup.fetch("a@example.com", "b@example.com")


def test_an_insert_gives_the_row_and_instance_create_gives(user):
    now = timezone.now()
    session = Session.objects.open(
        user=user,
        amr=["pwd"],
        auth_time=now,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=1),
        ip="192.0.2.1",
    )
    assert session._state.adding is False and session._state.db == "default"
    stored = Session.objects.get(pk=session.pk)
    assert (stored.user_id, stored.amr, stored.ip, stored.expires_at) == (
        user.pk,
        ["pwd"],
        "192.0.2.1",
        session.expires_at,
    )
    token = RefreshToken.objects.issue(session, b"\x01" * 32, now, now + timedelta(hours=1))
    assert isinstance(token.pk, int)  # the auto key read back
    assert RefreshToken.objects.get(pk=token.pk).token_hash == b"\x01" * 32
    child = RefreshToken.objects.issue(session, b"\x02" * 32, now, now, parent=token)
    assert child.pk > token.pk
    assert RefreshToken.objects.get(pk=child.pk).parent_id == token.pk
    event = AuditEvent.objects.record(event="test", user=user, detail={"n": 1})
    assert AuditEvent.objects.get(pk=event.pk).detail == {"n": 1}


def test_an_insert_of_a_model_with_save_receivers_runs_them(user):
    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=AuditEvent, dispatch_uid="test_prepared")
    try:
        event = AuditEvent.objects.record(event="test", user=user, detail={})
    finally:
        post_save.disconnect(sender=AuditEvent, dispatch_uid="test_prepared")
    assert seen == [(event.pk, True)]
    assert PreparedInsert(lambda: AuditEvent).create(event="x", detail={}).pk > event.pk


def test_an_update_returns_the_rows_it_changed(user):
    at = timezone.now() - timedelta(hours=3)
    record_last_login(user, at)
    user.refresh_from_db()
    assert user.last_login == at
    update = PreparedUpdate("test_is_active", get_user_model, "pk", "is_active")
    assert update.run(user.pk, False) == 1
    assert update.run(user.pk + 1000, False) == 0
    user.refresh_from_db()
    assert user.is_active is False
