"""A small, real OpenID Connect provider for SecureAuth's tests (see provider.py)."""

from .provider import OIDCProvider, ProviderUser, pkce_pair

__all__ = ["OIDCProvider", "ProviderUser", "pkce_pair"]
