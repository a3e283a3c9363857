"""Include with ``path("account/", include("secureauth.account.urls"))``.

The paths match the links SecureAuth mails (``FRONTEND_URL`` set to where this is
mounted): ``verify-email``, ``reset-password``, ``report-session``, ``magic-link``.
"""

from django.urls import path

from . import reports, views

app_name = "secureauth_account"

urlpatterns = [
    path("", views.account_page, {"page": "sign-in"}, name="sign-in"),
    *(
        path(name, views.account_page, {"page": name}, name=name)
        for name in views.PAGES
        if name != "sign-in"
    ),
    path("csp-report/", reports.csp_report, name="csp-report"),
]
