"""schemathesis against the running example service: every operation of the schema it
serves is called with generated requests (valid ones and ones that break the schema),
as a signed-in user with a verified email, and every answer must be what the schema
documents: never a server error, a documented status, content type, body and headers,
and for an error a ``code`` among those documented for that status.

Nothing is excluded. The operations that end the caller's session by design (logout/,
logout-all/) are called with the token of a disposable user, made before the run, until
one of them succeeds; the next request gets the next user's (once the pool is spent, a
revoked token: still a documented 401). The others cannot end the signed-in user's
session with generated input: every change that would (a new password, a second
factor, a passkey) needs a proof that random input does not hold, and DELETE
sessions/<id>/ only names random sessions. Refused passwords and codes lock the login
limiter of the user and the IP during the run: those answers are the documented 429.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import ROOT, gunicorn

pytestmark = pytest.mark.servers

PASSWORD = "a long passphrase 42"
USER_EMAIL = "fuzz@example.com"
#: Disposable users for the operations that end the caller's sessions.
DISPOSABLE_USERS = 40
#: Operations that end the caller's session: called with a disposable user's token.
SIGNS_OUT = {"POST /auth/logout/", "POST /auth/logout-all/"}
#: Generated requests per operation in the fuzzing phase (the coverage phase adds its own).
MAX_EXAMPLES = 10


def _post(base: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# Run by ``manage.py shell`` in the service's environment: the user's email is verified
# (as its mailed link would), and the disposable users are created with one password hash.
SETUP_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from secureauth.services.users import find_user_by_email
from secureauth.services.verification import mark_email_verified

args = json.loads(INPUT)
mark_email_verified(find_user_by_email(args["email"]))
User = get_user_model()
password = make_password(args["password"])
for i in range(args["disposable"]):
    email = f"disposable{i}@example.com"
    User(username=email, email=email, password=password).save()
"""


@dataclass
class Service:
    base: str
    #: the signed-in user's access token
    token: str
    #: disposable users' access tokens, the one in use last
    disposable: list[str] = field(default_factory=list)

    def token_for(self, operation: str) -> str:
        return self.disposable[-1] if operation in SIGNS_OUT else self.token

    def signed_out(self, operation: str, status: int) -> None:
        """The disposable token in use is spent once a sign-out succeeded."""
        if operation in SIGNS_OUT and status == 204 and len(self.disposable) > 1:
            self.disposable.pop()


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[Service]:
    var = tmp_path_factory.mktemp("schemathesis-var")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "SECUREAUTH_VAR_DIR": str(var),
        "PYTHONPATH": str(ROOT),
        "DEBUG": "1",  # the embedded default: SQLite, no TLS redirect
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SECUREAUTH_LOG_LEVEL": "ERROR",  # a server error's traceback still shows
    }
    env.pop("SECRET_KEY", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    with gunicorn(
        "example_project.wsgi:application", env, workers=2, ready_path="/health/"
    ) as base:
        status, body = _post(base, "/auth/register/", {"email": USER_EMAIL, "password": PASSWORD})
        assert status == 201, body
        status, tokens = _post(base, "/auth/login/", {"email": USER_EMAIL, "password": PASSWORD})
        assert status == 200, tokens
        setup = {"email": USER_EMAIL, "password": PASSWORD, "disposable": DISPOSABLE_USERS}
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-v0",
                "-c",
                f"INPUT = {json.dumps(json.dumps(setup))}\n{SETUP_SCRIPT}",
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        disposable = []
        for i in range(DISPOSABLE_USERS):
            credentials = {"email": f"disposable{i}@example.com", "password": PASSWORD}
            status, issued = _post(base, "/auth/login/", credentials)
            assert status == 200, issued
            disposable.append(issued["access_token"])
        yield Service(base, tokens["access_token"], disposable)


@pytest.fixture(scope="module")
def served_schema(service):
    config = schemathesis.Config.from_dict(
        {
            "seed": 20261122,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(service.base + "/api/schema/?format=json", config=config)


def documented_error_codes(ctx, response, case) -> bool | None:
    """An error's ``code`` is one of those the schema documents for its status (the
    examples of the response name them, one per code)."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None  # content_type_conformance and response_schema_conformance judge it
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return None
    documented = case.operation.definition.raw.get("responses", {}).get(
        str(response.status_code), {}
    )
    examples = documented.get("content", {}).get("application/json", {}).get("examples", {})
    codes = {
        example["value"]["code"]
        for example in examples.values()
        if isinstance(example.get("value"), dict) and "code" in example["value"]
    }
    if not codes:
        return None  # a host view's response that lists no codes (example_project)
    if body["code"] not in codes:
        raise AssertionError(
            f"{response.status_code} with code {body['code']!r}; documented: {sorted(codes)}"
        )
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    documented_error_codes,
]

if not hasattr(pytest.Item, "_nodeid"):
    # schemathesis 4.32's pytest plugin reads ``node._nodeid``, which pytest 9.2 renamed
    # (to ``_id``); it only uses it to label each operation's subtest in the report.
    pytest.Item._nodeid = property(lambda node: node.nodeid, lambda node, value: None)

schema = schemathesis.pytest.from_fixture("served_schema")


@settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    max_examples=MAX_EXAMPLES,
)
@schema.parametrize()
def test_the_service_answers_as_its_schema_documents(case, service):
    operation = f"{case.method.upper()} {case.operation.path}"
    token = service.token_for(operation)
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    service.signed_out(operation, response.status_code)
    case.validate_response(response, checks=CHECKS)
