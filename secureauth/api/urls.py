from django.urls import path, re_path

from .views import account as account_views
from .views import audit as audit_views
from .views import auth, keys, sessions
from .views import magic_links as magic_link_views
from .views import mfa as mfa_views
from .views import passkeys as passkey_views
from .views import social as social_views
from .views import users as user_views
from .views.base import NotFoundView

urlpatterns = [
    path("register/", auth.RegisterView.as_view(), name="register"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("refresh/", auth.RefreshView.as_view(), name="refresh"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("logout-all/", auth.LogoutAllView.as_view(), name="logout-all"),
    path("me/", auth.MeView.as_view(), name="me"),
    path("sessions/", sessions.SessionListView.as_view(), name="sessions"),
    path("sessions/report/", account_views.SessionReportView.as_view(), name="session-report"),
    path("sessions/<str:session_id>/", sessions.SessionDetailView.as_view(), name="session-detail"),
    path(".well-known/jwks.json", keys.JWKSView.as_view(), name="jwks"),
    path(
        "passkeys/register/begin/",
        passkey_views.PasskeyRegisterBeginView.as_view(),
        name="passkey-register-begin",
    ),
    path(
        "passkeys/register/complete/",
        passkey_views.PasskeyRegisterCompleteView.as_view(),
        name="passkey-register-complete",
    ),
    path(
        "passkeys/login/begin/",
        passkey_views.PasskeyLoginBeginView.as_view(),
        name="passkey-login-begin",
    ),
    path(
        "passkeys/login/complete/",
        passkey_views.PasskeyLoginCompleteView.as_view(),
        name="passkey-login-complete",
    ),
    path("passkeys/", passkey_views.PasskeyListView.as_view(), name="passkeys"),
    path(
        "passkeys/<str:passkey_id>/",
        passkey_views.PasskeyDetailView.as_view(),
        name="passkey-detail",
    ),
    path("audit/", audit_views.AuditView.as_view(), name="audit"),
    path("users/<str:user_id>/roles/", user_views.UserRolesView.as_view(), name="user-roles"),
    path(
        "users/<str:user_id>/revoke-sessions/",
        user_views.UserRevokeSessionsView.as_view(),
        name="user-revoke-sessions",
    ),
    path("reauthenticate/", account_views.ReauthenticateView.as_view(), name="reauthenticate"),
    path("password/change/", account_views.PasswordChangeView.as_view(), name="password-change"),
    path("password/reset/", account_views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password/reset/confirm/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("email/verify/", account_views.EmailVerifyView.as_view(), name="email-verify"),
    path(
        "email/verify/resend/",
        account_views.EmailVerifyResendView.as_view(),
        name="email-verify-resend",
    ),
    path("magic-link/", magic_link_views.MagicLinkRequestView.as_view(), name="magic-link"),
    path(
        "magic-link/confirm/",
        magic_link_views.MagicLinkConfirmView.as_view(),
        name="magic-link-confirm",
    ),
    path("mfa/totp/setup/", mfa_views.TOTPSetupView.as_view(), name="mfa-totp-setup"),
    path("mfa/totp/confirm/", mfa_views.TOTPConfirmView.as_view(), name="mfa-totp-confirm"),
    path("mfa/verify/", mfa_views.MFAVerifyView.as_view(), name="mfa-verify"),
    path("mfa/recovery-codes/", mfa_views.RecoveryCodesView.as_view(), name="mfa-recovery-codes"),
    path("mfa/disable/", mfa_views.MFADisableView.as_view(), name="mfa-disable"),
    path(
        "social/connections/",
        social_views.SocialConnectionListView.as_view(),
        name="social-connections",
    ),
    path(
        "social/connections/<str:connection_id>/",
        social_views.SocialConnectionDetailView.as_view(),
        name="social-connection-detail",
    ),
    path(
        "social/<str:backend>/connect/",
        social_views.SocialConnectView.as_view(),
        name="social-connect",
    ),
    path("social/<str:backend>/", social_views.SocialLoginView.as_view(), name="social-login"),
    # Keep last: anything else under the mount is a JSON 404, never an HTML page.
    re_path(r"^.*$", NotFoundView.as_view(), name="not-found"),
]
