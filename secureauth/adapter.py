"""The one extension point for host projects: ``SECUREAUTH["ADAPTER"]``.

A host subclasses ``DefaultAdapter``, overrides the hooks it needs, and names its
class in settings; SecureAuth loads it once (``get_adapter()``) and calls it for:

- creating users (``create_user``, ``username_for``) and finding them by email
  (``find_user_by_email``);
- sending mail (``send_mail``: e.g. hand the message to a task queue);
- the access token's extra claims (``access_token_claims``);
- parsing a device from the User-Agent (``parse_device``);
- finding the client IP of a request (``client_ip``);
- serializing the user object of the API (``serialize_user``).

docs/extending.md has a worked example of each.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .client import DeviceInfo
from .client import client_ip as forwarded_client_ip
from .client import parse_device as parse_user_agent
from .conf import app_settings
from .models.accounts import email_key_of
from .models.users import USER_BY_EMAIL_KEY, users_by_email_key, users_with_security_state

if TYPE_CHECKING:
    from .models import Session
    from .types import UserType


class DefaultAdapter:
    """SecureAuth's behaviour where a host project may want its own."""

    # --- users ---------------------------------------------------------------------

    def create_user(self, email: str, password: str | None, **fields: Any) -> UserType:
        """Create and save a user with this (already normalized) email; ``password``
        None gives an unusable password (social sign-in). SecureAuth checks the email's
        uniqueness itself, around this call."""
        User = get_user_model()
        email_field = User.get_email_field_name()
        fields[email_field] = email
        if User.USERNAME_FIELD != email_field:
            fields.setdefault(User.USERNAME_FIELD, self.username_for(email))
        return User._default_manager.create_user(password=password, **fields)

    def username_for(self, email: str) -> str:
        """The USERNAME_FIELD value of a new user whose USERNAME_FIELD is not the email:
        the email itself when the field can hold it (Django's ``username``, 150
        characters), else the address's local part cut to fit, with a random suffix
        (``a.rather.long.address.f-3f9c1a2b`` in 32). Users sign in by email either way."""
        User = get_user_model()
        limit = getattr(User._meta.get_field(str(User.USERNAME_FIELD)), "max_length", None)
        if limit is None or len(email) <= limit:
            return email
        suffix = "-" + secrets.token_hex(4)
        if limit <= len(suffix):
            return secrets.token_hex(limit)[:limit]
        return email.rsplit("@", 1)[0][: limit - len(suffix)] + suffix

    def find_user_by_email(self, email: str, users: models.QuerySet[UserType]) -> UserType | None:
        """The user ``email`` names, from ``users`` (a queryset that already loads the
        security state: keep it one query). Default: the canonical email key."""
        key = email_key_of(email)
        if key is None:
            return None
        if users is users_with_security_state():  # SecureAuth's own: compiled once
            return USER_BY_EMAIL_KEY.first(key)
        return next(iter(users_by_email_key(users, key)), None)

    # --- mail ----------------------------------------------------------------------

    def send_mail(self, message: EmailMessage) -> None:
        """Deliver one rendered message. Called after the transaction committed, in the
        background thread when SEND_MAIL_IN_BACKGROUND is on; an exception is logged."""
        message.send()

    # --- tokens, devices, clients, users in the API --------------------------------

    def access_token_claims(self, user: UserType, session: Session) -> dict[str, Any]:
        """Extra claims for the user's access tokens (``tokens.RESERVED_CLAIMS`` stay
        SecureAuth's: a hook cannot replace ``sub``, ``roles``, ``exp``...)."""
        return {}

    def parse_device(self, user_agent: str) -> DeviceInfo:
        """Browser, OS and device type of a User-Agent."""
        return parse_user_agent(user_agent)

    def client_ip(self, request: HttpRequest) -> str | None:
        """The client's IP: REMOTE_ADDR, or the X-Forwarded-For entry of the outermost of
        NUM_PROXIES trusted proxies."""
        return forwarded_client_ip(
            request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR")
        )

    def serialize_user(self, user: UserType, data: dict[str, Any]) -> dict[str, Any]:
        """The API's user object; ``data`` holds the contract's fields (keep them)."""
        return data


def get_adapter() -> DefaultAdapter:
    """The adapter ``SECUREAUTH["ADAPTER"]`` names, loaded once (again after a reload)."""
    return app_settings.memo("adapter", lambda: import_string(app_settings.ADAPTER)())
