"""Ids taken from a URL path: accepted only exactly as the API writes them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

_BIGINT = range(-(2**63), 2**63)


def pk_from_path(model: type[models.Model], value: Any) -> Any | None:
    """The pk ``value`` names, or None unless ``value`` is written exactly as the API
    writes ids (``str(pk)``): "١٢", " 12", "+12", "1_2", other-digit UUIDs name nothing
    (``int()`` and ``uuid.UUID()`` would read them as another spelling of a real id)."""
    try:
        pk = model._meta.pk.to_python(value)
    except (ValidationError, ValueError, TypeError, OverflowError):
        return None
    if pk is None or str(pk) != str(value) or (isinstance(pk, int) and pk not in _BIGINT):
        return None
    return pk
