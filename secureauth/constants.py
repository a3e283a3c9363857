"""Names shared across SecureAuth: audit events, revocation reasons, device types."""

from django.db import models


class Event(models.TextChoices):
    REGISTER = "register"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_RATE_LIMITED = "login_rate_limited"
    MFA_SUCCEEDED = "mfa_succeeded"
    MFA_FAILED = "mfa_failed"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    SESSION_REVOKED = "session_revoked"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_RESET_COMPLETED = "password_reset_completed"
    EMAIL_VERIFIED = "email_verified"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    PASSKEY_LOGIN = "passkey_login"
    PASSKEY_CLONE_DETECTED = "passkey_clone_detected"
    ROLES_CHANGED = "roles_changed"
    SOCIAL_LOGIN = "social_login"
    SOCIAL_LINKED = "social_linked"
    SOCIAL_UNLINKED = "social_unlinked"
    REAUTHENTICATED = "reauthenticated"
    SESSION_REPORTED = "session_reported"
    NEW_DEVICE_SIGN_IN = "new_device_sign_in"
    MAGIC_LINK_REQUESTED = "magic_link_requested"
    MAGIC_LINK_USED = "magic_link_used"


class RevokeReason(models.TextChoices):
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    USER = "user"  # the user revoked it from the session list
    REUSE = "reuse"  # refresh-token reuse (theft) detected
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    MFA_CHANGED = "mfa_changed"
    ADMIN = "admin"
    REPORTED = "reported"  # the user said "this wasn't me" from a new-device mail


class DeviceType(models.TextChoices):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    BOT = "bot"
    OTHER = "other"


# Methods of RFC 8176 that count as a second factor for IsMFAAuthenticated.
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk", "swk", "mfa"})
