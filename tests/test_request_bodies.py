"""Request bodies are parsed within bounds or refused as the contract says: deeply nested
JSON is a 400 (never a RecursionError 500), and a chunked body is read within the size
limit or refused (411) — never silently dropped."""

from __future__ import annotations

import bz2
import http.client
import io
import json
from urllib.parse import urlsplit

import pytest

from secureauth.api.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from tests.conftest import PASSWORD, secureauth_settings
from tests.servers import running_server
from tests.test_errors import assert_error_body

JSON_ENDPOINTS = ["/auth/login/", "/auth/register/", "/auth/refresh/", "/auth/password/reset/"]


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# Deeply nested JSON


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        nested(1_000),  # a 2 KB body
        nested_objects(1_000),
        '{"email": ' + nested(30_000) + "}",  # deep inside an object, within 64 KB
        '{"email": ' + nested_objects(5_000) + "}",
        '{"email": "a@b.c", "password": ' + nested(60_000, "[", "") + "}",  # never closed
    ],
    ids=["array-2kb", "objects-2kb", "array-in-object", "objects-in-object", "unclosed"],
)
def test_deeply_nested_json_is_a_400(api, db, path, body):
    assert len(body) <= 64 * 1024
    response = api.post(path, data=body, content_type="application/json")
    assert_error_body(response, 400, "invalid")


@pytest.mark.parametrize(
    ("levels", "parsed"), [(MAX_JSON_DEPTH, True), (MAX_JSON_DEPTH + 1, False)]
)
def test_nesting_bound_counts_the_body_object(api, db, levels, parsed):
    inner = nested(levels - 1)  # the body object itself is the first level
    body = '{"email": "a@b.c", "password": "x", "device_name": ' + inner + "}"
    response = api.post("/auth/login/", data=body, content_type="application/json")
    assert response.status_code == 400
    if parsed:  # decoded: a field error, not a parse error
        assert "device_name" in response.json(), response.content
    else:
        assert_error_body(response, 400, "invalid")


def test_nesting_within_the_bound_is_parsed(api, user):
    # Brackets inside strings are text, not nesting.
    body = {"email": user.email, "password": PASSWORD, "device_name": "[[[[{{{{" * 10}
    response = api.post("/auth/login/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["session"]["device"]["name"] == body["device_name"]


def test_moderately_nested_field_is_a_field_error(api, db):
    body = '{"email": ' + nested(10) + ', "password": "x"}'
    response = api.post("/auth/login/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "email" in response.json()


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * 32 + "]" * 32, False),
        ("[" * 33, True),
        ('{"a":' * 33 + "1" + "}" * 33, True),
        ('{"a": "' + "[" * 100 + '"}', False),  # brackets in a string are text
        ('{"a": "\\"' + "[" * 100 + '"}', False),  # an escaped quote does not end it
        ('{"a": "\\\\", "b": ' + "[" * 40 + "}", True),  # an escaped backslash does
        ('"' + "[" * 100, False),  # unterminated string: text to the end
        ("[]" * 20_000, False),
    ],
)
def test_json_depth_exceeds(text, too_deep):
    assert json_depth_exceeds(text) is too_deep


def test_a_charset_that_is_not_a_text_encoding_is_a_400(api, db):
    body = bz2.compress(json.dumps({"email": "a@b.c", "password": "x"}).encode())
    response = api.post(
        "/auth/login/", data=body, content_type="application/json; charset=bz2_codec"
    )
    assert_error_body(response, 400, "invalid")


def test_a_declared_text_charset_is_honoured(api, user):
    body = json.dumps({"email": user.email, "password": "wrong"}).encode("utf-16")
    response = api.post("/auth/login/", data=body, content_type="application/json; charset=utf-16")
    assert_error_body(response, 401, "invalid_credentials")


# Chunked bodies (Transfer-Encoding: chunked, no Content-Length)


def post_chunked(api, path: str, body: bytes, *, terminated: bool, **extra):
    """POST as a WSGI server passes a chunked request: no CONTENT_LENGTH; the input
    de-chunked and ending at the body's end when ``terminated`` (gunicorn)."""
    environ = {"wsgi.input": io.BytesIO(body), "HTTP_TRANSFER_ENCODING": "chunked"}
    if terminated:
        environ["wsgi.input_terminated"] = True
    return api.post(path, content_type="application/json", **environ, **extra)


def test_chunked_body_is_read_when_the_server_dechunked_it(api, user):
    body = json.dumps({"email": user.email, "password": "wrong password"}).encode()
    response = post_chunked(api, "/auth/login/", body, terminated=True)
    assert_error_body(response, 401, "invalid_credentials")
    body = json.dumps({"email": user.email, "password": PASSWORD}).encode()
    response = post_chunked(api, "/auth/login/", body, terminated=True)
    assert response.status_code == 200, response.content


def test_oversized_chunked_body_is_a_413(api, db):
    body = json.dumps({"email": "a@b.c", "password": "x" * (64 * 1024)}).encode()
    response = post_chunked(api, "/auth/login/", body, terminated=True)
    assert_error_body(response, 413, "request_too_large")


def test_chunked_body_limit_follows_the_setting(api, user):
    body = json.dumps({"email": user.email, "password": PASSWORD, "device_name": "d" * 200})
    with secureauth_settings(MAX_REQUEST_BYTES=200):
        response = post_chunked(api, "/auth/login/", body.encode(), terminated=True)
    assert_error_body(response, 413, "request_too_large")


def test_malformed_chunked_json_is_a_400(api, db):
    response = post_chunked(api, "/auth/login/", nested(5_000).encode(), terminated=True)
    assert_error_body(response, 400, "invalid")


def test_chunked_body_the_server_did_not_dechunk_is_refused(api, user):
    # Django's runserver passes the raw chunked stream without a length: refuse, never drop.
    body = json.dumps({"email": user.email, "password": PASSWORD}).encode()
    response = post_chunked(api, "/auth/login/", body, terminated=False)
    assert_error_body(response, 411, "invalid")


def test_a_content_length_body_is_unaffected_by_wsgi_input_terminated(api, user):
    body = {"email": user.email, "password": PASSWORD}
    response = api.post("/auth/login/", body, format="json", **{"wsgi.input_terminated": True})
    assert response.status_code == 200, response.content


# The same through a real server (gunicorn de-chunks and sets wsgi.input_terminated)


def raw_chunked_post(base: str, path: str, body: bytes) -> tuple[int, dict]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        pieces = (body[i : i + 1000] for i in range(0, len(body), 1000))
        conn.request(
            "POST",
            path,
            body=pieces,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.servers
def test_chunked_login_through_gunicorn(transactional_db, make_user):
    user = make_user("chunked@example.com")
    with running_server() as base:
        wrong = json.dumps({"email": user.email, "password": "wrong password"}).encode()
        status, body = raw_chunked_post(base, "/auth/login/", wrong)
        assert (status, body["code"]) == (401, "invalid_credentials"), body
        right = json.dumps({"email": user.email, "password": PASSWORD}).encode()
        status, body = raw_chunked_post(base, "/auth/login/", right)
        assert status == 200, body
        assert body["user"]["email"] == user.email
        big = json.dumps({"email": user.email, "password": "x" * (64 * 1024)}).encode()
        status, body = raw_chunked_post(base, "/auth/login/", big)
        assert (status, body["code"]) == (413, "request_too_large"), body
        status, body = raw_chunked_post(base, "/auth/login/", nested(10_000).encode())
        assert (status, body["code"]) == (400, "invalid"), body


def test_chunked_body_under_asgi_is_read(user):
    # An ASGI server always de-chunks; Django then sees no Content-Length either.
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient
    from django.test.client import FakePayload

    def post(body: bytes):
        headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
        scope = {"method": "POST", "path": "/auth/login/", "query_string": ""}
        return async_to_sync(AsyncClient().request)(
            **scope, headers=headers, _body_file=FakePayload(body)
        )

    wrong = json.dumps({"email": user.email, "password": "wrong password"}).encode()
    assert_error_body(post(wrong), 401, "invalid_credentials")
    big = json.dumps({"email": user.email, "password": "x" * (64 * 1024)}).encode()
    assert_error_body(post(big), 413, "request_too_large")
