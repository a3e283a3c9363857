"""Browser tests: the account pages in a real headless Chromium, against a live server.

The browser is Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it),
driven by Playwright for Python; nothing downloads a browser. The live server runs in
this process (pytest-django's ``live_server`` at ``localhost``, as WebAuthn wants a
host name), so the tests read mail from the local-memory outbox and change settings
for it. Each test saves a screenshot of its last page under ``artifacts/browser/``,
checks that no page keeps a token in storage scripts can read, and that no page broke
its Content-Security-Policy (the report endpoint's log records and the console).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .flows import assert_no_readable_token

CHROMIUM = os.environ.get("SECUREAUTH_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if Path(str(item.path)).resolve().parent == HERE:
            item.add_marker(pytest.mark.browser)


class ReportRecorder(logging.Handler):
    """Keeps the CSP violation reports the server logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.reports: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.reports.append(getattr(record, "csp_report", {"message": record.getMessage()}))


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread: Django would take the
    # test's own ORM calls (fixtures, database teardown) for calls from async code. Per
    # module, so that neither the loop nor the variable outlives the browser tests
    # (later tests start subprocesses, and ``check --deploy`` warns about the variable).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def csp_reports() -> Iterator[ReportRecorder]:
    recorder = ReportRecorder()
    logger = logging.getLogger("secureauth.csp")
    logger.addHandler(recorder)
    try:
        yield recorder
    finally:
        logger.removeHandler(recorder)


@pytest.fixture
def site(live_server, settings):
    """The live server, with links in mail and WebAuthn pointing at it."""
    settings.SECUREAUTH = {
        **settings.SECUREAUTH,
        "FRONTEND_URL": f"{live_server.url}/account",
        "WEBAUTHN_RP_ID": "localhost",
        "WEBAUTHN_ORIGINS": [live_server.url],
    }
    assert live_server.url.startswith("http://localhost:")
    return live_server.url


class Pages:
    """Browser contexts (one per simulated browser) and their pages; on teardown every
    page is checked for readable tokens, and the last one is screenshotted."""

    def __init__(self, browser, base: str, name: str) -> None:
        self.browser = browser
        self.base = base
        self.name = name
        self.contexts: list = []
        self.pages: list = []
        self.console_violations: list[str] = []

    def new_context(self, **options):
        options.setdefault("viewport", {"width": 900, "height": 900})
        context = self.browser.new_context(base_url=self.base, **options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context

    def new_page(self, context=None):
        context = context or self.new_context()
        page = context.new_page()
        page.on("console", self._watch_console)
        self.pages.append(page)
        return page

    def _watch_console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console_violations.append(message.text)

    def screenshot(self, page, name: str | None = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name or self.name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for page in self.pages:
            if not page.is_closed() and page.url.startswith(self.base):
                assert_no_readable_token(page)
        if self.pages and not self.pages[-1].is_closed():
            self.screenshot(self.pages[-1])
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, site, csp_reports, request) -> Iterator[Pages]:
    opened = Pages(browser, site, request.node.name)
    try:
        yield opened
        opened.close()
    finally:
        for context in opened.contexts:
            try:
                context.close()
            except Exception:  # closed already
                pass
    assert opened.console_violations == []
    assert csp_reports.reports == []
