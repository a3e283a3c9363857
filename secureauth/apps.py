from django.apps import AppConfig


class SecureAuthConfig(AppConfig):
    name = "secureauth"
    verbose_name = "SecureAuth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers checks and signal receivers)
