"""Finding and creating users by email, whatever the host project's user model."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.db import IntegrityError, transaction

from ..conf import app_settings
from ..exceptions import EmailTaken
from ..models.users import attach_security_state, with_security_state


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_field() -> str:
    return get_user_model().get_email_field_name()


def login_field() -> str:
    """The indexed field SecureAuth finds accounts by: the user model's USERNAME_FIELD,
    which holds the normalized email for every account SecureAuth creates."""
    return get_user_model().USERNAME_FIELD


def _users_with_security_state():
    return with_security_state(get_user_model()._default_manager.all())


def find_user_by_email(email: str):
    """The user with this (normalized) email and its security state, or None.

    An exact match on the unique, indexed USERNAME_FIELD: one index probe, whatever
    the size of the user table, for known and unknown emails alike."""
    base = app_settings.memo("users_with_security_state", _users_with_security_state)
    rows = list(base.filter(**{login_field(): normalize_email(email)})[:1])  # unique: no ORDER BY
    if rows:
        attach_security_state(rows[0], rows[0])
    return rows[0] if rows else None


def find_user_by_any_email(email: str):
    """Like ``find_user_by_email``, falling back to a case-insensitive match on the
    email field, for accounts created outside SecureAuth (createsuperuser, the admin).
    Not indexed on every database: for operators and rare flows, not for login."""
    user = find_user_by_email(email)
    if user is not None:
        return user
    base = app_settings.memo("users_with_security_state", _users_with_security_state)
    row = base.filter(**{f"{email_field()}__iexact": normalize_email(email)}).order_by("pk").first()
    if row is not None:
        attach_security_state(row, row)
    return row


def email_in_use(email: str) -> bool:
    User = get_user_model()
    return User._default_manager.filter(
        **{f"{email_field()}__iexact": normalize_email(email)}
    ).exists()


def create_user(email: str, password: str | None):
    """Create a user whose login is its email; EmailTaken if it exists (also under a race)."""
    User = get_user_model()
    email = normalize_email(email)
    fields = {email_field(): email}
    if User.USERNAME_FIELD != email_field():
        fields[User.USERNAME_FIELD] = email
    if email_in_use(email):
        raise EmailTaken()
    try:
        with transaction.atomic():
            user = User._default_manager.create_user(password=password, **fields)
    except IntegrityError:
        raise EmailTaken()
    user.sa_roles, user.sa_mfa_enabled, user.sa_email_verified = [], False, False
    return user


_DUMMY_HASH: dict[str, str] = {}


def verify_password(user, password: str) -> bool:
    """Check a password; with no user, spend the same hashing time on a dummy hash
    so an unknown email cannot be told apart by timing."""
    if user is None or not user.has_usable_password():
        algorithm = get_hasher().algorithm  # follow PASSWORD_HASHERS if it changes
        if algorithm not in _DUMMY_HASH:
            _DUMMY_HASH[algorithm] = make_password("secureauth-dummy-password")
        check_password(password, _DUMMY_HASH[algorithm])
        return False
    return user.check_password(password)


def set_password(user, password: str) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])


def max_email_length() -> int:
    User = get_user_model()
    limits = [User._meta.get_field(email_field()).max_length or 254]
    if User.USERNAME_FIELD != email_field():
        limits.append(User._meta.get_field(User.USERNAME_FIELD).max_length or 254)
    return min(limits)
