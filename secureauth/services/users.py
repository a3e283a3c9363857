"""Finding and creating users by email, whatever the host project's user model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.db import IntegrityError, transaction

from ..adapter import get_adapter
from ..emails import canonical_email
from ..exceptions import EmailTaken
from ..models import Account
from ..models.users import (
    SecurityState,
    attach_security_state,
    set_security_state,
    users_with_security_state,
)
from ..races import checkpoint

if TYPE_CHECKING:
    from ..types import UserType


def normalize_email(email: str) -> str:
    """How an address is stored for display: trimmed, lower-cased. Lookups never use
    this: they use the canonical key (``secureauth.emails.canonical_email``)."""
    return email.strip().lower()


def email_field() -> str:
    return get_user_model().get_email_field_name()


def find_user_by_email(email: str) -> UserType | None:
    """The user ``email`` names, with its security state, or None. The one lookup by
    email (login, reset, linking, commands); the adapter's ``find_user_by_email``
    decides how (default: an exact match on the unique canonical key, one index probe)."""
    user = get_adapter().find_user_by_email(email, users_with_security_state())
    if user is not None:
        attach_security_state(user, user)
    return user


def create_user(email: str, password: str | None) -> UserType:
    """Create a user (the adapter's ``create_user``) whose login is its email;
    EmailTaken if another account has the same canonical key (also under a race: the
    key's unique index decides)."""
    key = canonical_email(email)
    if Account.objects.key_taken(key):
        raise EmailTaken()
    checkpoint("register.key_checked")
    try:
        with transaction.atomic():
            user = get_adapter().create_user(normalize_email(email), password)
            # The post_save receiver gave it its key, unless another account holds it.
            if not Account.objects.holds_key(user, key):
                raise IntegrityError("email key taken")
    except IntegrityError:
        raise EmailTaken()
    set_security_state(user, SecurityState())
    return user


_DUMMY_HASH: dict[str | None, str] = {}


def verify_password(user: UserType | None, password: str) -> bool:
    """Check a password; with no user, spend the same hashing time on a dummy hash
    so an unknown email cannot be told apart by timing."""
    if user is None or not user.has_usable_password():
        algorithm = get_hasher().algorithm  # follow PASSWORD_HASHERS if it changes
        if algorithm not in _DUMMY_HASH:
            _DUMMY_HASH[algorithm] = make_password("secureauth-dummy-password")
        check_password(password, _DUMMY_HASH[algorithm])
        return False
    return user.check_password(password)


def set_password(user: UserType, password: str) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])


def max_email_length() -> int:
    """The longest address the user model's email field holds (254 at most). A shorter
    USERNAME_FIELD does not limit it: the adapter's ``username_for`` derives a value
    that fits."""
    field = get_user_model()._meta.get_field(email_field())
    return min(getattr(field, "max_length", None) or 254, 254)
