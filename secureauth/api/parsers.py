"""A JSON parser that refuses oversized bodies before reading them."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from ..conf import app_settings


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Request body is too large."
    default_code = "request_too_large"


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = app_settings.MAX_REQUEST_BYTES
        length = 0
        if request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise exceptions.ParseError("Invalid Content-Length.")
        if length > limit:
            raise RequestTooLarge()
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise exceptions.ParseError("The request body must be a JSON object.")
        return data
