"""The admin's login form: the API's login limiter and the user's second factor.

Rule: signing in to the admin is one attempt on the same ``LoginLimiter`` as
``POST /auth/login/``, keyed by the account's email (so a lock earned on either
holds on both) and the client IP. A wrong password, or a wrong one-time code, is
a failure; while a key is locked even correct credentials are refused. A user
with a confirmed second factor needs a current code from it as well as the
password. Attempts are audited with ``method="admin"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django_otp.models import Device

from .. import signals
from ..client import ClientInfo
from ..constants import Event
from ..exceptions import RateLimited, SecureAuthError, ServiceUnavailable
from ..services import audit
from ..services.login import record_failure
from ..services.verification import user_email
from ..throttling import LoginLimiter
from .base import admin_client
from .second_factor import has_second_factor, verify_one_time_code

if TYPE_CHECKING:
    from ..types import UserType

METHOD = "admin"


def find_account(username: str) -> UserType | None:
    """The user ``username`` names (by natural key, as Django's backend finds it), or None."""
    User = get_user_model()
    try:
        return User._default_manager.get_by_natural_key(username)
    except (User.DoesNotExist, User.MultipleObjectsReturned):
        return None


def limiter_email(account: UserType | None, username: str) -> str:
    """What the attempt is counted under: the account's email, as the API counts it;
    the submitted username when it names no account (or one without an email)."""
    return (user_email(account) if account is not None else "") or username


@dataclass(frozen=True)
class AdminAttempt:
    """One admin sign-in on the login limiter: who is calling, and the email it counts under."""

    limiter: LoginLimiter
    client: ClientInfo
    email: str

    @classmethod
    def start(cls, request: HttpRequest | None, email: str) -> AdminAttempt:
        client = admin_client(request) if request is not None else ClientInfo()
        return cls(LoginLimiter(client.ip, email), client, email)

    def count_failure(self, event: str, user: UserType | None) -> None:
        """Count a failure as the API does (``record_failure``: the failure that installs
        a lock writes that lock's one ``login_rate_limited``), and audit ``event``."""
        audit.record_event(
            event, user=user, client=self.client, method=METHOD, email=self.email[:254]
        )
        if event == Event.LOGIN_FAILED:
            signals.send_after_commit(
                signals.login_failed, sender=None, email=self.email, user=user, ip=self.client.ip
            )
        record_failure(self.limiter, user, self.client, self.email, method=METHOD)


class SecureAuthAdminAuthenticationForm(AdminAuthenticationForm):
    """``AdminAuthenticationForm`` behind SecureAuth's login limiter and second factor.

    After a refused attempt, ``refusal`` holds the error (``RateLimited`` or
    ``ServiceUnavailable``) so the login view can answer with its status."""

    otp_token = forms.CharField(
        label=_("One-time code"),
        required=False,
        max_length=64,
        help_text=_("From your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "rate_limited": ngettext_lazy(
            "Too many attempts, try again in %(seconds)d second.",
            "Too many attempts, try again in %(seconds)d seconds.",
            "seconds",
        ),
        "unavailable": _("Signing in is unavailable right now. Try again shortly."),
        "otp_required": _(
            "This account has two-factor authentication: enter a one-time code from "
            "your authenticator app, or a recovery code."
        ),
        "otp_invalid": _("That one-time code is not valid. Enter your password and a new code."),
    }

    def __init__(self, request=None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.refusal: SecureAuthError | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data  # the field errors say what is missing
        account = find_account(username)
        attempt = AdminAttempt.start(self.request, limiter_email(account, username))
        try:
            with attempt.limiter.attempt():
                self.user_cache = self._sign_in(attempt, account, username, password)
        except RateLimited as refused:
            self.refusal = refused
            raise ValidationError(
                self.error_messages["rate_limited"],
                code="rate_limited",
                params={"seconds": refused.retry_after},
            )
        except ServiceUnavailable as refused:
            self.refusal = refused
            raise ValidationError(self.error_messages["unavailable"], code="unavailable")
        return self.cleaned_data

    def _sign_in(
        self, attempt: AdminAttempt, account: UserType | None, username: str, password: str
    ) -> UserType:
        """Password, admin access, then the second factor; returns the user."""
        client = attempt.client
        user = authenticate(self.request, username=username, password=password)
        if user is None:
            attempt.count_failure(Event.LOGIN_FAILED, account)
            raise self.get_invalid_login_error()
        try:
            self.confirm_login_allowed(user)  # inactive or not staff: the password was right
        except ValidationError:
            reason = "not_staff" if user.is_active else "inactive"
            audit.record_event(
                Event.LOGIN_FAILED, user=user, client=client, method=METHOD, reason=reason
            )
            raise
        device = self._second_factor(attempt, user) if has_second_factor(user) else None
        attempt.limiter.succeeded()
        if device is not None:
            # django-otp's user_logged_in receiver persists it in the session
            # (django_otp.login), so request.user.is_verified() holds afterwards.
            user.otp_device = device  # type: ignore[attr-defined]  # django-otp's, not a field
        amr = ["pwd", "otp"] if device is not None else ["pwd"]
        audit.record_event(Event.LOGIN_SUCCEEDED, user=user, client=client, method=METHOD, amr=amr)
        return user

    def _second_factor(self, attempt: AdminAttempt, user: UserType) -> Device:
        """The device that accepts the submitted code; a wrong code is a failure."""
        code = self.cleaned_data.get("otp_token")
        if not code:
            raise ValidationError(self.error_messages["otp_required"], code="otp_required")
        try:
            with transaction.atomic():
                device = verify_one_time_code(user, code)
        except RateLimited:
            audit.record_event(
                Event.MFA_FAILED,
                user=user,
                client=attempt.client,
                method=METHOD,
                reason="throttled",
            )
            raise
        if device is None:
            attempt.count_failure(Event.MFA_FAILED, user)
            raise ValidationError(self.error_messages["otp_invalid"], code="otp_invalid")
        audit.record_event(Event.MFA_SUCCEEDED, user=user, client=attempt.client, method=METHOD)
        return device
