"""Serializers by feature; the core ones are re-exported here."""

from .core import (
    DeviceNameMixin,
    DeviceSerializer,
    EmailField,
    LoginSerializer,
    LogoutSerializer,
    MFAChallengeSerializer,
    RefreshSerializer,
    RegisterSerializer,
    SessionSerializer,
    TokenResponseSerializer,
    UserSerializer,
)

__all__ = [
    "DeviceNameMixin",
    "DeviceSerializer",
    "EmailField",
    "LoginSerializer",
    "LogoutSerializer",
    "MFAChallengeSerializer",
    "RefreshSerializer",
    "RegisterSerializer",
    "SessionSerializer",
    "TokenResponseSerializer",
    "UserSerializer",
]
