"""Creating an account."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils.dateparse import parse_datetime

from secureauth.models import AuditEvent, Session
from tests.conftest import PASSWORD, login

USER_FIELDS = {"id", "email", "roles", "email_verified", "mfa_enabled", "date_joined"}


def register(api, **body):
    return api.post("/auth/register/", body, format="json")


def test_register_creates_the_account(api, db):
    response = register(api, email="new@example.com", password=PASSWORD, device_name="Laptop")
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"user"}
    user = body["user"]
    assert set(user) == USER_FIELDS
    assert isinstance(user["id"], str)
    assert user["email"] == "new@example.com"
    assert user["roles"] == []
    assert user["email_verified"] is False
    assert user["mfa_enabled"] is False
    assert parse_datetime(user["date_joined"]).tzinfo is not None

    created = get_user_model().objects.get(pk=user["id"])
    assert created.check_password(PASSWORD)
    assert created.password != PASSWORD
    # Registering signs nobody in.
    assert not Session.objects.exists()
    assert login(api, "new@example.com")["user"]["id"] == user["id"]


@pytest.mark.parametrize("email", ["New.User@Example.COM", "  new.user@example.com  "])
def test_email_is_normalized(api, db, email):
    response = register(api, email=email, password=PASSWORD)
    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "new.user@example.com"
    assert get_user_model().objects.get().email == "new.user@example.com"


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@example.com", "Alice@Example.Com"])
def test_a_taken_email_is_a_conflict_in_any_case(api, user, email):
    response = register(api, email=email, password=PASSWORD)
    assert response.status_code == 409, response.content
    assert response.json() == {"detail": response.json()["detail"], "code": "email_taken"}
    assert get_user_model().objects.count() == 1


def test_an_existing_mixed_case_email_is_taken(api, make_user):
    make_user("Bob@Example.com")
    response = register(api, email="bob@example.com", password=PASSWORD)
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


@pytest.mark.parametrize(
    "password",
    [
        "Xy7#a",  # too short
        "password",  # common
        "qwertyuiop",  # common
        "8675309123456",  # numeric only
        "weakling@example.com",  # too similar to the email
        "",  # blank
    ],
)
def test_weak_passwords_are_field_errors(api, db, password):
    response = register(api, email="weakling@example.com", password=password)
    assert response.status_code == 400, response.content
    body = response.json()
    assert isinstance(body["password"], list) and body["password"]
    assert all(isinstance(message, str) for message in body["password"])
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@", "@example.com", "a b@example.com", "", "x" * 250 + "@e.com"]
)
def test_invalid_email_is_a_field_error(api, db, email):
    response = register(api, email=email, password=PASSWORD)
    assert response.status_code == 400, response.content
    assert isinstance(response.json()["email"], list)
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"email": "a@example.com"}, {"password"}),
        ({"password": PASSWORD}, {"email"}),
        ({"email": None, "password": PASSWORD}, {"email"}),
        ({"email": ["a@example.com"], "password": PASSWORD}, {"email"}),
        ({"email": "a@example.com", "password": 123}, {"password"}),
    ],
)
def test_missing_or_wrongly_typed_fields_are_field_errors(api, db, body, fields):
    response = api.post("/auth/register/", body, format="json")
    assert response.status_code == 400, response.content
    assert fields <= set(response.json())


def test_register_is_audited(api, db):
    response = register(api, email="audited@example.com", password=PASSWORD)
    user_id = response.json()["user"]["id"]
    event = AuditEvent.objects.get(event="register")
    assert str(event.user_id) == user_id
    assert event.ip == "127.0.0.1"


def test_failed_registration_writes_no_register_event(api, user):
    register(api, email=user.email, password=PASSWORD)
    assert not AuditEvent.objects.filter(event="register").exists()


def test_a_verification_email_is_sent(api, db):
    response = register(api, email="verify.me@example.com", password=PASSWORD)
    assert response.status_code == 201
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["verify.me@example.com"]
    assert "http://localhost:3000/verify-email?uid=" in message.body
    assert PASSWORD not in message.body


def test_no_email_is_sent_for_a_taken_address(api, user):
    register(api, email=user.email, password=PASSWORD)
    assert mail.outbox == []
