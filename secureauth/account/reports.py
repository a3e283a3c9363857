"""The endpoint browsers send Content-Security-Policy violation reports to.

Each report is logged (logger ``secureauth.csp``, level WARNING) with the page, the
directive it broke and what was blocked: a policy that blocks the pages' own code shows
up there, and so does an injected script. The browser tests count these records.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger("secureauth.csp")

MAX_REPORT_BYTES = 16 * 1024
#: the fields of a report that are logged, each bounded
LOGGED_FIELDS = (
    "document-uri",
    "violated-directive",
    "effective-directive",
    "blocked-uri",
    "source-file",
    "line-number",
)
MAX_FIELD_CHARS = 300


def _reports_in(body: Any) -> list[dict[str, Any]]:
    """The violations in a ``report-uri`` body (``{"csp-report": {...}}``) or a Reporting
    API batch (``[{"type": "csp-violation", "body": {...}}]``, camelCase keys)."""
    if isinstance(body, dict) and isinstance(body.get("csp-report"), dict):
        return [body["csp-report"]]
    if isinstance(body, list):
        reports = []
        for entry in body:
            if isinstance(entry, dict) and isinstance(entry.get("body"), dict):
                raw = entry["body"]
                reports.append(
                    {
                        "document-uri": raw.get("documentURL"),
                        "violated-directive": raw.get("effectiveDirective"),
                        "effective-directive": raw.get("effectiveDirective"),
                        "blocked-uri": raw.get("blockedURL"),
                        "source-file": raw.get("sourceFile"),
                        "line-number": raw.get("lineNumber"),
                    }
                )
        return reports
    return []


def _bounded(value: Any) -> str:
    return str(value)[:MAX_FIELD_CHARS] if value is not None else ""


@csrf_exempt  # browsers post reports without a CSRF token
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """204 for a report (logged); 400 for a body that is too large or not a report."""
    if len(request.body) > MAX_REPORT_BYTES:
        return JsonResponse({"detail": "The report is too large.", "code": "invalid"}, status=400)
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return JsonResponse({"detail": "The report is not JSON.", "code": "invalid"}, status=400)
    reports = _reports_in(body)
    if not reports:
        return JsonResponse(
            {"detail": "No CSP violation report in the body.", "code": "invalid"}, status=400
        )
    for report in reports:
        fields = {name: _bounded(report.get(name)) for name in LOGGED_FIELDS}
        logger.warning(
            "CSP violation on %s: %s blocked %s",
            fields["document-uri"],
            fields["effective-directive"] or fields["violated-directive"],
            fields["blocked-uri"],
            extra={"csp_report": fields},
        )
    return HttpResponse(status=204)
