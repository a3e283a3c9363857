"""The account pages' server side: routes, headers, the CSP report endpoint, the static
client, and the example project's loopback redirect (the pages in a browser:
tests/browser/)."""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.staticfiles import finders
from django.test import RequestFactory

from example_project.middleware import LoopbackToLocalhostMiddleware
from secureauth.account.views import PAGES

PAGE_PATHS = ["/account/"] + [f"/account/{name}" for name in PAGES if name != "sign-in"]


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_every_page_is_a_shell_with_strict_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert "form-action 'self'" in csp and "report-uri /account/csp-report/" in csp
    assert "'unsafe-inline'" not in csp
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Frame-Options"] == "DENY"
    html = response.content.decode()
    assert 'data-api="/auth/"' in html
    assert "<script>" not in html and "style=" not in html  # nothing inline
    assert '<script type="module" src="/static/secureauth/account/pages/' in html


def test_pages_answer_only_get_and_head(client):
    assert client.head("/account/sessions").status_code == 200
    assert client.post("/account/sessions").status_code == 405


def test_signed_in_pages_link_each_other(client):
    html = client.get("/account/security").content.decode()
    for path in ("/account/security", "/account/sessions", "/account/activity"):
        assert f'href="{path}"' in html
    assert 'aria-current="page"' in html


def report_uri_body(**overrides) -> bytes:
    report = {
        "document-uri": "http://localhost:8000/account/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "inline",
        **overrides,
    }
    return json.dumps({"csp-report": report}).encode()


def test_csp_reports_are_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="secureauth.csp"):
        response = client.post(
            "/account/csp-report/", report_uri_body(), content_type="application/csp-report"
        )
        batch = [
            {
                "type": "csp-violation",
                "body": {
                    "documentURL": "http://localhost/account/",
                    "effectiveDirective": "img-src",
                    "blockedURL": "https://evil.example/x.png",
                },
            }
        ]
        batch_response = client.post(
            "/account/csp-report/", json.dumps(batch), content_type="application/reports+json"
        )
    assert response.status_code == 204 and batch_response.status_code == 204
    reports = [record.csp_report for record in caplog.records if hasattr(record, "csp_report")]
    assert [r["effective-directive"] for r in reports] == ["script-src-elem", "img-src"]
    assert reports[1]["blocked-uri"] == "https://evil.example/x.png"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"something": "else"}', report_uri_body(**{"x": "y" * 20000})],
)
def test_a_body_that_is_not_a_report_is_a_400(client, body):
    response = client.post("/account/csp-report/", body, content_type="application/csp-report")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_report_endpoint_takes_only_post(client):
    assert client.get("/account/csp-report/").status_code == 405


def test_the_client_modules_are_static_files():
    for path in (
        "secureauth/client.js",
        "secureauth/tokens.js",
        "secureauth/webauthn.js",
        "secureauth/account/account.css",
        *(f"secureauth/account/pages/{name}.js" for name in PAGES),
    ):
        assert finders.find(path), path


def test_no_page_script_touches_web_storage_or_cookies():
    """Tokens stay in memory: no module reads or writes web storage or document.cookie
    (the browser tests check the storage itself after each journey)."""
    scripts = ["secureauth/client.js", "secureauth/tokens.js", "secureauth/webauthn.js"]
    helpers = ("ui", "session", "mfa-step", "reauthenticate")
    scripts += [f"secureauth/account/{name}.js" for name in helpers]
    scripts += [f"secureauth/account/pages/{name}.js" for name in PAGES]
    for path in scripts:
        source = open(finders.find(path)).read()
        for api in ("localStorage.", "sessionStorage.", "document.cookie", "indexedDB"):
            assert api not in source, (path, api)


@pytest.mark.parametrize(
    ("host", "path", "target"),
    [
        ("127.0.0.1:8000", "/account/", "http://localhost:8000/account/"),
        ("127.0.0.1:8000", "/", "http://localhost:8000/"),
        (
            "[::1]:8000",
            "/account/reset-password?uid=a&token=b",
            "http://localhost:8000/account/reset-password?uid=a&token=b",
        ),
        ("127.0.0.1", "/account/security", "http://localhost/account/security"),
        ("localhost:8000", "/account/", None),
        ("127.0.0.1:8000", "/auth/me/", None),
    ],
)
def test_example_project_sends_loopback_ips_to_localhost(settings, host, path, target):
    settings.ALLOWED_HOSTS = ["*"]
    middleware = LoopbackToLocalhostMiddleware(lambda request: "passed on")
    answer = middleware(RequestFactory().get(path, HTTP_HOST=host))
    if target is None:
        assert answer == "passed on"
    else:
        assert answer.status_code == 302 and answer["Location"] == target


def test_the_loopback_redirect_is_off_for_another_relying_party(settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.SECUREAUTH = {**settings.SECUREAUTH, "WEBAUTHN_RP_ID": "auth.example.com"}
    middleware = LoopbackToLocalhostMiddleware(lambda request: "passed on")
    assert middleware(RequestFactory().get("/account/", HTTP_HOST="127.0.0.1:8000")) == "passed on"
