from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from . import views

urlpatterns = [
    path("auth/", include("secureauth.urls")),
    path("jwt/login/", TokenObtainPairView.as_view(), name="jwt-login"),
    path("jwt/refresh/", TokenRefreshView.as_view(), name="jwt-refresh"),
    path("api/secureauth/", views.SecureAuthWhoAmI.as_view(), name="whoami-secureauth"),
    path("api/simplejwt/", views.SimpleJWTWhoAmI.as_view(), name="whoami-simplejwt"),
    path("api/simplejwt/me/", views.SimpleJWTMe.as_view(), name="me-simplejwt"),
    path("api/bare/", views.Bare.as_view(), name="bare"),
]
