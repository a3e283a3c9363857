"""social_django's strategy, adapted to JSON API calls.

An API call has no browser session: the strategy keeps a per-call dictionary
instead of ``request.session`` (nothing is read from or written to Django's
session framework), takes its request data from the caller's validated body,
and always runs SecureAuth's pipeline (``SOCIAL_PIPELINE``).
"""

from __future__ import annotations

from typing import Any

from social_core.utils import module_member
from social_django.strategy import DjangoStrategy
from social_django.utils import STORAGE

from ..conf import app_settings
from .pipeline import PIPELINE


class APIStrategy(DjangoStrategy):
    """A strategy for one API call: explicit data, a throwaway session, SecureAuth's pipeline."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._data = dict(data or {})
        super().__init__(module_member(STORAGE), request=None)
        self.session = {}  # type: ignore[assignment]  # per-call state, never persisted

    def get_request_data(self, merge: bool = True) -> dict[str, Any]:
        return dict(self._data)

    def get_pipeline(self, backend=None) -> list[str]:
        return list(app_settings.SOCIAL_PIPELINE or PIPELINE)
