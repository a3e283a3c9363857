from django.urls import path, re_path

from .views import auth, keys, sessions
from .views.base import NotFoundView

urlpatterns = [
    path("register/", auth.RegisterView.as_view(), name="register"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("refresh/", auth.RefreshView.as_view(), name="refresh"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("logout-all/", auth.LogoutAllView.as_view(), name="logout-all"),
    path("me/", auth.MeView.as_view(), name="me"),
    path("sessions/", sessions.SessionListView.as_view(), name="sessions"),
    path("sessions/<str:session_id>/", sessions.SessionDetailView.as_view(), name="session-detail"),
    path(".well-known/jwks.json", keys.JWKSView.as_view(), name="jwks"),
    # Keep last: anything else under the mount is a JSON 404, never an HTML page.
    re_path(r"^.*$", NotFoundView.as_view(), name="not-found"),
]
