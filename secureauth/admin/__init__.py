"""Django admin for SecureAuth: sessions, the audit log, read-only security tables.

Every table is read-only. The one write is revocation, and it goes through
``secureauth.services.sessions`` exactly like the API's, so it is audited
(``session_revoked``, reason ``admin``) and signalled. Hashes and secrets are
never displayed. Signing in goes through SecureAuth's login limiter and asks for
the second factor (``.login``, ``.site``).
"""

from .login import SecureAuthAdminAuthenticationForm
from .security import AuditEventAdmin, MFAChallengeAdmin, PasskeyAdmin, VerifiedEmailAdmin
from .sessions import SessionAdmin
from .site import SecureAuthAdminSite, SecureAuthAdminSiteMixin, install_admin_login
from .totp import SealedTOTPDeviceAdmin, install_totp_device_admin
from .users import SessionInline, UserSessionsAdminMixin, extend_user_admin

__all__ = [
    "AuditEventAdmin",
    "MFAChallengeAdmin",
    "PasskeyAdmin",
    "SealedTOTPDeviceAdmin",
    "SecureAuthAdminAuthenticationForm",
    "SecureAuthAdminSite",
    "SecureAuthAdminSiteMixin",
    "SessionAdmin",
    "SessionInline",
    "UserSessionsAdminMixin",
    "VerifiedEmailAdmin",
    "extend_user_admin",
    "install_admin_login",
    "install_totp_device_admin",
]
