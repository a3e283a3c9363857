"""What drf-spectacular needs to describe SecureAuth: the Bearer security scheme.

Imported by ``SecureAuthConfig.ready()`` when drf-spectacular is installed, which
registers the extension (its metaclass does), so every view behind
``AccessTokenAuthentication`` shows the lock in Swagger UI and its Authorize
button takes an access token.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "secureauth.authentication.AccessTokenAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from login/, refresh/ or another sign-in.",
        }
