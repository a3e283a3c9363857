"""Reading request bodies: a JSON parser that refuses oversized and deeply nested
bodies before decoding them, and chunked bodies read within the same limit."""

from __future__ import annotations

import io
import re
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from ..conf import app_settings

#: How deep arrays and objects may nest, the body object itself counting as one level.
MAX_JSON_DEPTH = 32

# A JSON string (escapes included; an unterminated one runs to the end, so scanning stays
# linear), or a character that opens or closes a level.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Request body is too large."
    default_code = "request_too_large"


class LengthRequired(exceptions.APIException):
    status_code = 411
    default_detail = "A chunked request body is not accepted here; send a Content-Length."
    default_code = "invalid"


def _read_at_most(stream, size: int) -> bytes:
    chunks, read = [], 0
    while read < size:
        chunk = stream.read(size - read)
        if not chunk:
            break
        chunks.append(chunk)
        read += len(chunk)
    return b"".join(chunks)


def read_chunked_body(request: HttpRequest) -> None:
    """A body framed by Transfer-Encoding (no Content-Length) is never dropped: when the
    server de-chunked it (a WSGI server setting ``wsgi.input_terminated``, as gunicorn
    does, or any ASGI server) it is read to its end, at most ``MAX_REQUEST_BYTES`` (413
    beyond), and handed on as if it had come with a Content-Length; when the server did
    not (runserver), it is refused (411)."""
    meta = request.META
    if not meta.get("HTTP_TRANSFER_ENCODING"):
        return
    if isinstance(request, ASGIRequest):
        stream = request._stream  # the whole body, received by the ASGI server
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]
    else:
        raise LengthRequired()
    limit = app_settings.MAX_REQUEST_BYTES
    body = _read_at_most(stream, limit + 1)
    if len(body) > limit:
        raise RequestTooLarge()
    request._stream = io.BytesIO(body)  # what HttpRequest.read() (and so DRF) reads
    request._read_started = False  # type: ignore[attr-defined]  # private, not in django-stubs
    meta["CONTENT_LENGTH"] = str(len(body))


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects in ``text`` nest deeper than ``limit``. Brackets inside
    strings do not count; an unterminated string runs to the end (the decoder refuses it)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


class LimitedJSONParser(JSONParser):
    """At most ``MAX_REQUEST_BYTES`` (413 beyond), nesting at most ``MAX_JSON_DEPTH``,
    and a JSON object; anything else it cannot parse is a ``ParseError`` (400 invalid)."""

    def parse(self, stream, media_type=None, parser_context=None) -> dict[str, Any]:
        parser_context = parser_context or {}
        request = parser_context.get("request")
        limit = app_settings.MAX_REQUEST_BYTES
        if request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise exceptions.ParseError("Invalid Content-Length.")
            if length > limit:
                raise RequestTooLarge()
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge()
        encoding = parser_context.get("encoding") or settings.DEFAULT_CHARSET
        try:
            # bytes.decode() takes text encodings only (LookupError for "bz2_codec" & co.).
            text = raw.decode(encoding)
            if json_depth_exceeds(text):
                raise exceptions.ParseError("JSON parse error - nested too deeply.")
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except (ValueError, LookupError, RecursionError) as exc:
            # RecursionError: the decoder's own limit, should a body ever get past the bound.
            raise exceptions.ParseError(f"JSON parse error - {exc}")
        if not isinstance(data, dict):
            raise exceptions.ParseError("The request body must be a JSON object.")
        return data
