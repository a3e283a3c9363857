"""The management commands: output, exit codes and effects."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, ManagementUtility, base, call_command
from django.utils import timezone

from secureauth import signals
from secureauth.models import AuditEvent, RefreshToken, Session

from .conftest import bearer, login


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run as ``manage.py`` would: errors become a message on stderr and an exit code."""
    # run_from_argv closes every connection when done, which would end the test's transaction.
    monkeypatch.setattr(base.connections, "close_all", lambda: None)

    def run_cli(*args) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_info:
            ManagementUtility(["manage.py", *args]).execute()
        return exit_info.value.code, capsys.readouterr().err

    return run_cli


# secureauth_cleanup


@pytest.fixture
def dead_session(user):
    now = timezone.now()
    session = Session.objects.create(
        user=user,
        created_at=now - timedelta(days=90),
        last_used_at=now - timedelta(days=90),
        expires_at=now - timedelta(days=60),
    )
    RefreshToken.objects.create(
        session=session,
        token_hash=b"\xff" * 32,
        issued_at=now - timedelta(days=90),
        expires_at=now - timedelta(days=60),
    )
    return session


def test_cleanup_prints_what_it_deleted(dead_session):
    output = run("secureauth_cleanup")
    assert "Deleted 1 refresh tokens" in output
    assert "Deleted 1 sessions" in output
    assert "Deleted 0 audit events" in output
    assert "Cleanup done: deleted 2 rows in total." in output
    assert not Session.objects.exists() and not RefreshToken.objects.exists()


def test_cleanup_dry_run_deletes_nothing(dead_session):
    output = run("secureauth_cleanup", "--dry-run")
    assert "Would delete 1 refresh tokens" in output
    assert "Would delete 1 sessions" in output
    assert "Dry run: would delete 2 rows in total." in output
    assert Session.objects.count() == 1 and RefreshToken.objects.count() == 1


def test_cleanup_batch_size_option(dead_session):
    assert "deleted 2 rows" in run("secureauth_cleanup", "--batch-size", "1")
    with pytest.raises(CommandError, match="--batch-size"):
        run("secureauth_cleanup", "--batch-size", "0")


# secureauth_revoke


def test_revoke_signs_the_user_out_everywhere(api, user, make_user):
    first, second = login(api, user.email), login(api, user.email)
    other = make_user("bob@example.com")
    other_tokens = login(api, other.email)
    revoked = []
    signals.session_revoked.connect(receiver := lambda **kw: revoked.append(kw["reason"]))
    try:
        output = run("secureauth_revoke", "ALICE@example.com")
    finally:
        signals.session_revoked.disconnect(receiver)

    assert "Revoked 2 sessions of ALICE@example.com." in output
    assert revoked == ["admin", "admin"]
    events = AuditEvent.objects.filter(event="session_revoked", user=user)
    assert events.count() == 2
    assert [e.detail for e in events] == [{"reason": "admin", "actor": None}] * 2
    for tokens in (first, second):
        response = api.get("/auth/me/", **bearer(tokens))
        assert response.status_code == 401
        assert response.json()["code"] == "session_revoked"
        refresh = api.post(
            "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}, format="json"
        )
        assert refresh.status_code == 401
    assert api.get("/auth/me/", **bearer(other_tokens)).status_code == 200
    assert "Revoked 0 sessions" in run("secureauth_revoke", user.email)


def test_revoke_unknown_email_fails(db, cli):
    with pytest.raises(CommandError, match="No user with email 'nobody@example.com'"):
        run("secureauth_revoke", "nobody@example.com")
    code, err = cli("secureauth_revoke", "nobody@example.com")
    assert code == 1
    assert "No user with email 'nobody@example.com'" in err


# secureauth_roles


def test_roles_add_and_remove(user):
    user.groups.add(Group.objects.create(name="viewer"))
    sent = []
    signals.roles_changed.connect(receiver := lambda **kw: sent.append(kw["roles"]))
    try:
        output = run("secureauth_roles", user.email, "--add", "admin", "staff")
        assert output.strip() == f"Roles of {user.email}: admin, staff, viewer"
        output = run("secureauth_roles", user.email, "--remove", "viewer", "--add", "ops")
        assert output.strip() == f"Roles of {user.email}: admin, ops, staff"
    finally:
        signals.roles_changed.disconnect(receiver)

    assert set(Group.objects.values_list("name", flat=True)) >= {"admin", "staff", "ops"}
    assert sorted(user.groups.values_list("name", flat=True)) == ["admin", "ops", "staff"]
    assert sent == [["admin", "staff", "viewer"], ["admin", "ops", "staff"]]
    first, second = AuditEvent.objects.filter(event="roles_changed").order_by("pk")
    assert first.user == user
    assert first.detail["added"] == ["admin", "staff"] and first.detail["removed"] == []
    assert second.detail == {
        "added": ["ops"],
        "removed": ["viewer"],
        "roles": ["admin", "ops", "staff"],
        "actor": None,
    }


def test_roles_without_change_prints_roles_and_audits_nothing(make_user):
    user = make_user(roles=["admin"])
    assert run("secureauth_roles", user.email).strip() == f"Roles of {user.email}: admin"
    assert run("secureauth_roles", user.email, "--remove", "ghost").strip().endswith("admin")
    assert not AuditEvent.objects.filter(event="roles_changed").exists()
    assert not Group.objects.filter(name="ghost").exists()


def test_roles_with_no_roles_left(make_user):
    user = make_user(roles=["admin"])
    output = run("secureauth_roles", user.email, "--remove", "admin")
    assert output.strip() == f"Roles of {user.email}: (none)"


def test_roles_errors(user, cli):
    with pytest.raises(CommandError, match="both added and removed: admin"):
        run("secureauth_roles", user.email, "--add", "admin", "--remove", "admin")
    with pytest.raises(CommandError, match="cannot be empty"):
        run("secureauth_roles", user.email, "--add", "  ")
    with pytest.raises(CommandError, match="No user with email"):
        run("secureauth_roles", "nobody@example.com", "--add", "admin")
    code, err = cli("secureauth_roles", "nobody@example.com", "--add", "admin")
    assert code == 1 and "No user with email" in err
    assert not Group.objects.filter(name="admin").exists()
