"""The OpenAPI 3 schema: valid, generated without a warning, and usable by a client
generator and Swagger UI: every route and no phantom one, readable stable operation
ids, a summary and a description everywhere, the Bearer scheme on exactly the
operations behind it, every error response in the contract's shape with its codes,
the alternative answers of the sign-ins, the field constraints; and real answers of
the API match it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.urls import Resolver404, resolve
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from rest_framework.permissions import AllowAny

from secureauth.api.urls import urlpatterns
from secureauth.authentication import AccessTokenAuthentication
from secureauth.permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from tests.conftest import PASSWORD, bearer, login
from tests.servers import ROOT

#: The contract's machine codes (API.md, Conventions), and those of the transport:
#: a body over MAX_REQUEST_BYTES, the database or cache unreachable.
CONTRACT_CODES = {
    "invalid_credentials",
    "rate_limited",
    "token_invalid",
    "token_expired",
    "token_reused",
    "session_revoked",
    "not_authenticated",
    "permission_denied",
    "mfa_required",
    "mfa_invalid",
    "email_taken",
    "account_exists",
    "not_found",
    "reauthentication_required",
    "email_unverified",
    "invalid_dpop_proof",
    "invalid",
    "use_dpop_nonce",  # RFC 9449 §8, only with DPOP_NONCE on
    "request_too_large",
    "service_unavailable",
}
BEARER_CODES = {"not_authenticated", "token_invalid", "token_expired", "session_revoked"}

#: Client generators name their methods after these: they change only on purpose.
OPERATION_IDS = {
    "POST /auth/register/": "register",
    "POST /auth/login/": "login",
    "POST /auth/refresh/": "refresh",
    "POST /auth/logout/": "logout",
    "POST /auth/logout-all/": "logout_all",
    "GET /auth/me/": "get_me",
    "GET /auth/sessions/": "list_sessions",
    "DELETE /auth/sessions/{session_id}/": "revoke_session",
    "POST /auth/sessions/report/": "report_session",
    "GET /auth/audit/": "list_audit_events",
    "POST /auth/password/change/": "change_password",
    "POST /auth/password/reset/": "request_password_reset",
    "POST /auth/password/reset/confirm/": "reset_password",
    "POST /auth/email/verify/": "verify_email",
    "POST /auth/email/verify/resend/": "resend_verification_email",
    "POST /auth/reauthenticate/": "reauthenticate",
    "POST /auth/magic-link/": "request_magic_link",
    "POST /auth/magic-link/confirm/": "confirm_magic_link",
    "POST /auth/mfa/totp/setup/": "begin_totp_setup",
    "POST /auth/mfa/totp/confirm/": "confirm_totp",
    "POST /auth/mfa/verify/": "verify_mfa",
    "POST /auth/mfa/recovery-codes/": "regenerate_recovery_codes",
    "POST /auth/mfa/disable/": "disable_mfa",
    "POST /auth/passkeys/register/begin/": "begin_passkey_registration",
    "POST /auth/passkeys/register/complete/": "complete_passkey_registration",
    "GET /auth/passkeys/": "list_passkeys",
    "DELETE /auth/passkeys/{passkey_id}/": "delete_passkey",
    "POST /auth/passkeys/login/begin/": "begin_passkey_login",
    "POST /auth/passkeys/login/complete/": "complete_passkey_login",
    "POST /auth/social/{backend}/": "social_login",
    "POST /auth/social/{backend}/connect/": "connect_social_provider",
    "GET /auth/social/connections/": "list_social_connections",
    "DELETE /auth/social/connections/{connection_id}/": "disconnect_social_provider",
    "POST /auth/users/{user_id}/roles/": "set_user_roles",
    "POST /auth/users/{user_id}/revoke-sessions/": "revoke_user_sessions",
    "GET /auth/.well-known/jwks.json": "get_jwks",
}


@pytest.fixture
def schema(api, db) -> dict:
    """The schema as the API serves it."""
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    """(label, path, method, operation) of every SecureAuth operation."""
    for path, item in schema["paths"].items():
        if not path.startswith("/auth/"):
            continue
        for method, operation in item.items():
            yield f"{method.upper()} {path}", path, method, operation


def view_of(path: str):
    """The view class serving a schema path (parameters filled with a sample value)."""
    return resolve(re.sub(r"\{[^}]+\}", "x", path)).func.view_class


def error_codes(operation: dict, status: int) -> set[str]:
    """The codes an error response documents: one example per code."""
    response = operation["responses"].get(str(status))
    if response is None:
        return set()
    examples = response["content"]["application/json"]["examples"].values()
    return {example["value"]["code"] for example in examples if "code" in example["value"]}


def body_validator(schema: dict, subschema: dict) -> OAS30Validator:
    """A validator of a body against ``subschema``, its $refs into ``schema``."""
    return OAS30Validator({**subschema, "components": schema["components"]})


# --- valid, and generated without a warning ------------------------------------------


def test_schema_is_valid_openapi(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_generation_has_no_warnings_or_errors(db):
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(
        GENERATOR_STATS._warn_cache, **GENERATOR_STATS._error_cache
    )
    validate_schema(generated)


def test_the_example_project_schema_has_no_warnings(tmp_path):
    """As ``manage.py spectacular --validate --fail-on-warn`` with the example's settings."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DEBUG": "1",
        "SECUREAUTH_VAR_DIR": str(tmp_path),
    }
    env.pop("SECRET_KEY", None)
    command = ["spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml")]
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr


# --- routes, operation ids, summaries ------------------------------------------------


def test_every_endpoint_is_documented(schema):
    documented = set(schema["paths"])
    routes = [p for p in urlpatterns if p.name != "not-found"]
    assert routes
    for route in routes:
        path = "/auth/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(route.pattern))
        assert path in documented, f"{path} missing from the schema"


def test_no_phantom_operations(schema):
    """Every documented path is a real route (the catch-all 404 route is not one), and
    no path carries regex leftovers."""
    for path in schema["paths"]:
        assert not re.search(r"[\^$()\\*?+|\[\]]|\{\}|\.\*", path), path
        if path.startswith("/auth/"):
            view = view_of(path)
            assert view.__name__ != "NotFoundView", path
    for label, path, _, _ in operations(schema):
        assert re.fullmatch(r"/auth/[\w\-./{}]*", path), label


def test_unknown_paths_resolve_to_the_catch_all_only():
    with pytest.raises(Resolver404):
        resolve("/nowhere/")
    assert resolve("/auth/nope/").func.view_class.__name__ == "NotFoundView"


def test_operation_ids_are_readable_and_stable(schema):
    found = {label: operation["operationId"] for label, _, _, operation in operations(schema)}
    assert found == OPERATION_IDS
    ids = [operation["operationId"] for _, _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", operation_id), operation_id


def test_every_operation_has_a_summary_description_and_tag(schema):
    for label, _, _, operation in operations(schema):
        assert operation.get("summary", "").strip(), f"{label} has no summary"
        assert operation.get("description", "").strip(), f"{label} has no description"
        assert len(operation["description"]) > len(operation["summary"]), label
        assert operation.get("tags"), label


# --- the Bearer security scheme (Swagger UI's Authorize button) ----------------------


def test_bearer_security_scheme(schema):
    assert schema["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from login/, refresh/ or another sign-in.",
    }


def test_dpop_security_schemes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["DPoPAuth"]["type"] == "http" and schemes["DPoPAuth"]["scheme"] == "dpop"
    assert schemes["DPoPProof"]["type"] == "apiKey"
    assert (schemes["DPoPProof"]["in"], schemes["DPoPProof"]["name"]) == ("header", "DPoP")


def test_sign_ins_document_the_dpop_header_and_its_errors(schema):
    sign_ins = {"login", "refresh", "verify_mfa", "complete_passkey_login", "social_login"}
    for label, _, _, operation in operations(schema):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if operation["operationId"] in sign_ins:
            assert "DPoP" in headers, label
            assert {"invalid_dpop_proof", "use_dpop_nonce"} <= error_codes(operation, 400), label
        if {"BearerAuth": []} in operation.get("security", []):
            assert "invalid_dpop_proof" in error_codes(operation, 401), label


def test_operations_behind_the_token_carry_the_lock(schema):
    for label, path, _, operation in operations(schema):
        view = view_of(path)
        takes_token = AccessTokenAuthentication in view.authentication_classes
        public = AllowAny in view.permission_classes
        security = operation.get("security", [])
        token = [{"BearerAuth": []}, {"DPoPAuth": [], "DPoPProof": []}]
        if takes_token and not public:
            assert security == token, label
        elif takes_token:  # a token is optional: a sign-in that can re-authenticate
            assert security == [*token, {}], label
        else:
            assert security in ([], [{}]), label
            assert "401" not in operation["responses"] or not (
                error_codes(operation, 401) & {"not_authenticated"}
            ), label


# --- errors --------------------------------------------------------------------------


def test_every_error_response_has_the_contract_shape_and_codes(schema):
    for label, _, _, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            where = f"{label} {status}"
            body = response["content"]["application/json"]
            expected = "BadRequest" if status == "400" else "Error"
            assert body["schema"] == {"$ref": f"#/components/schemas/{expected}"}, where
            codes = error_codes(operation, int(status))
            assert codes, where
            assert codes <= CONTRACT_CODES, (where, codes - CONTRACT_CODES)
            for code in codes:
                assert f"`{code}`" in response["description"], (where, code)
            headers = response.get("headers", {})
            if status in ("429", "503"):
                assert "Retry-After" in headers, where
            if status == "401":
                assert "WWW-Authenticate" in headers, where


def test_error_schemas(schema):
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["code", "detail"]
    assert set(components["Error"]["properties"]) == {"detail", "code"}
    assert components["BadRequest"] == {
        "oneOf": [
            {"$ref": "#/components/schemas/FieldErrors"},
            {"$ref": "#/components/schemas/Error"},
        ]
    }
    field_errors = components["FieldErrors"]
    assert field_errors["type"] == "object"
    messages = {"type": "array", "items": {"type": "string"}}
    assert messages in field_errors["additionalProperties"]["oneOf"]
    bad_request = body_validator(schema, {"$ref": "#/components/schemas/BadRequest"})
    bad_request.validate({"email": ["Enter a valid email address."]})
    bad_request.validate({"roles": {"0": ["A role name must be a string."]}})
    bad_request.validate({"detail": "JSON parse error.", "code": "invalid"})
    assert not bad_request.is_valid({"detail": "no code"})


def test_error_responses_follow_the_views(schema):
    """What a view's classes can refuse is documented: a token (401 with its codes), a
    recent authentication, a verified email, the rate limit, a body; and a database
    outage everywhere but the key set."""
    for label, path, _, operation in operations(schema):
        view = view_of(path)
        permissions = view.permission_classes
        if AccessTokenAuthentication in view.authentication_classes:
            expected = BEARER_CODES - ({"not_authenticated"} if AllowAny in permissions else set())
            assert expected <= error_codes(operation, 401), label
        if IsRecentlyAuthenticated in permissions:
            assert "reauthentication_required" in error_codes(operation, 401), label
        if HasVerifiedEmail in permissions:
            assert "email_unverified" in error_codes(operation, 403), label
        if getattr(view, "rate_limit_scope", None):
            assert "rate_limited" in error_codes(operation, 429), label
        if "requestBody" in operation:
            assert "invalid" in error_codes(operation, 400), label
            assert "request_too_large" in error_codes(operation, 413), label
        if operation["operationId"] != "get_jwks":
            assert error_codes(operation, 503) == {"service_unavailable"}, label


def test_error_examples_match_the_error_schema(schema):
    error = body_validator(schema, {"$ref": "#/components/schemas/Error"})
    for _, _, _, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                for example in response["content"]["application/json"]["examples"].values():
                    if "code" in example["value"]:
                        error.validate(example["value"])


def test_real_errors_match_their_documentation(api, schema, user):
    cases = [
        ("post", "/auth/login/", {"email": user.email, "password": "wrong"}, {}, 401),
        ("post", "/auth/login/", {"email": "x"}, {}, 400),
        ("get", "/auth/me/", None, {}, 401),
        ("get", "/auth/me/", None, {"HTTP_AUTHORIZATION": "Bearer nope"}, 401),
        ("post", "/auth/refresh/", {"refresh_token": "nope"}, {}, 401),
        ("post", "/auth/register/", {"email": user.email, "password": PASSWORD}, {}, 409),
    ]
    for method, path, body, headers, status in cases:
        response = getattr(api, method)(path, body, format="json", **headers)
        assert response.status_code == status, (path, response.content)
        operation = schema["paths"][path][method]
        documented = operation["responses"][str(status)]
        body_validator(schema, documented["content"]["application/json"]["schema"]).validate(
            response.json()
        )
        if "code" in response.json():
            assert response.json()["code"] in error_codes(operation, status), path


# --- alternative answers of the sign-ins ---------------------------------------------


def success_schema(schema: dict, path: str) -> dict:
    return schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]


def test_sign_ins_answer_tokens_or_the_mfa_challenge(schema):
    components = schema["components"]["schemas"]
    sign_in = {"$ref": "#/components/schemas/SignInResponse"}
    for path in ("/auth/login/", "/auth/social/{backend}/"):
        assert success_schema(schema, path) == sign_in, path
    assert components["SignInResponse"]["oneOf"] == [
        {"$ref": "#/components/schemas/TokenResponse"},
        {"$ref": "#/components/schemas/MFAChallenge"},
    ]
    assert success_schema(schema, "/auth/mfa/verify/") == {
        "$ref": "#/components/schemas/TokenResponse"
    }
    assert success_schema(schema, "/auth/passkeys/login/complete/") == {
        "$ref": "#/components/schemas/PasskeySignInResponse"
    }
    assert components["PasskeySignInResponse"]["oneOf"] == [
        {"$ref": "#/components/schemas/TokenResponse"},
        {"$ref": "#/components/schemas/Reauthenticated"},
    ]


def test_real_sign_in_answers_match_exactly_one_alternative(api, schema, user, make_user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    sign_in = body_validator(schema, {"$ref": "#/components/schemas/SignInResponse"})
    passkey = body_validator(schema, {"$ref": "#/components/schemas/PasskeySignInResponse"})

    tokens = login(api, user.email)
    sign_in.validate(tokens)  # oneOf: it matches TokenResponse, not MFAChallenge

    credentials = {"email": user.email, "password": PASSWORD}
    response = api.post("/auth/login/", credentials, format="json", HTTP_X_SECUREAUTH_COOKIE="1")
    cookie_mode = response.json()
    assert response.status_code == 200 and "refresh_token" not in cookie_mode
    sign_in.validate(cookie_mode)

    second_factor = make_user(verified=True)
    TOTPDevice.objects.create(user=second_factor, name="app", confirmed=True)
    challenge = login(api, second_factor.email)
    assert challenge["mfa_required"] is True
    sign_in.validate(challenge)

    response = api.post(
        "/auth/reauthenticate/", {"password": PASSWORD}, format="json", **bearer(tokens)
    )
    assert response.status_code == 200, response.content
    passkey.validate(response.json())  # the re-authentication alternative
    passkey.validate(tokens)


# --- field constraints ---------------------------------------------------------------


def test_field_constraints_are_visible(schema):
    components = schema["components"]["schemas"]

    def field(component: str, name: str) -> dict:
        return components[component]["properties"][name]

    assert field("RegisterRequest", "email")["format"] == "email"
    assert field("RegisterRequest", "email")["maxLength"] == 254
    assert field("RegisterRequest", "password")["maxLength"] == 4096
    assert field("LoginRequest", "device_name")["maxLength"] == 128
    assert field("RefreshRequest", "refresh_token")["maxLength"] == 256
    assert field("TOTPCodeRequest", "code")["pattern"] == "^[0-9]{6,8}$"
    assert field("MFAVerifyRequest", "code")["pattern"] == "^[0-9]{6,8}$"
    assert field("SocialAuthRequest", "code_verifier")["pattern"]
    assert field("RolesRequest", "roles")["maxItems"] == 100
    assert field("RolesRequest", "roles")["items"]["maxLength"] == 150
    for component in ("Session", "Passkey"):
        assert field(component, "id")["format"] == "uuid", component
    assert field("PasskeyLoginChallenge", "challenge_id")["format"] == "uuid"
    assert field("User", "email")["format"] == "email"
    assert field("TokenResponse", "token_type")["$ref"] == "#/components/schemas/TokenTypeEnum"
    assert field("MFAChallenge", "methods")["items"]["$ref"].endswith("MethodsEnum")
    for path, name in (
        ("/auth/sessions/{session_id}/", "session_id"),
        ("/auth/passkeys/{passkey_id}/", "passkey_id"),
    ):
        (parameter,) = [
            p for p in schema["paths"][path]["delete"]["parameters"] if p["in"] == "path"
        ]
        assert parameter["name"] == name
        assert parameter["schema"] == {"type": "string", "format": "uuid"}, path
