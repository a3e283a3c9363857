from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("secureauth.urls")),
    # The account pages (sign-up, sign-in, sessions, security): FRONTEND_URL points here.
    path("account/", include("secureauth.account.urls")),
    path("", RedirectView.as_view(pattern_name="secureauth_account:sign-in"), name="home"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/example/", views.ExampleView.as_view(), name="example"),
    path("health/", views.health, name="health"),
    # Last: any other path is a JSON 404, in DEBUG too.
    re_path(r"^.*$", views.not_found),
]

handler404 = "example_project.views.not_found"
handler500 = "example_project.views.server_error"
