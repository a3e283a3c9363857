"""Creating accounts."""

from __future__ import annotations

from ..client import ClientInfo
from ..constants import Event
from . import audit
from .users import create_user
from .verification import send_verification_email


def register(email: str, password: str, client: ClientInfo):
    """Create an account (EmailTaken if the email is in use) and audit it.

    The password has already passed Django's validators (the view validates input)."""
    user = create_user(email, password)
    audit.record_event(Event.REGISTER, user=user, client=client)
    send_verification_email(user)
    return user
