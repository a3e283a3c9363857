from django.apps import AppConfig, apps


class SecureAuthConfig(AppConfig):
    name = "secureauth"
    verbose_name = "SecureAuth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers checks and signal receivers)

        if apps.is_installed("drf_spectacular"):
            from . import schema  # noqa: F401  (registers the Bearer security scheme)

        if apps.is_installed("django.contrib.admin"):
            # The default admin site's login goes through the login limiter and
            # the second factor, with no configuration (docs/operations.md).
            from .admin.site import install_on_default_site

            install_on_default_site()
