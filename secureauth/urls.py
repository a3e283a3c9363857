"""Include with ``path("auth/", include("secureauth.urls"))``."""

from .api.urls import urlpatterns

app_name = "secureauth"

__all__ = ["app_name", "urlpatterns"]
