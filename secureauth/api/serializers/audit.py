"""The caller's own audit events, as ``GET audit/`` shows them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...client import display_user_agent

#: detail keys that name someone other than the caller; never shown to the caller
PRIVATE_DETAIL_KEYS = frozenset({"actor"})


class AuditEventSerializer(serializers.Serializer):
    """One event. When someone else acted on the caller's account (an administrator),
    that person's IP and user agent are withheld: a response never holds another
    user's data. The user agent is whatever the client sent: shown bounded and with
    control characters replaced (``display_user_agent``)."""

    id = serializers.CharField()
    event = serializers.CharField(help_text="What happened: `login_succeeded`, `logout`, ...")
    created_at = serializers.DateTimeField()
    session = serializers.SerializerMethodField()
    ip = serializers.SerializerMethodField()
    user_agent = serializers.SerializerMethodField()
    detail = serializers.SerializerMethodField()

    def _by_someone_else(self, entry) -> bool:
        actor = (entry.detail or {}).get("actor")
        return actor is not None and actor != str(entry.user_id)

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_session(self, entry) -> str | None:
        return str(entry.session_id) if entry.session_id is not None else None

    def get_ip(self, entry) -> str | None:
        return None if self._by_someone_else(entry) else entry.ip

    def get_user_agent(self, entry) -> str:
        return "" if self._by_someone_else(entry) else display_user_agent(entry.user_agent)

    def get_detail(self, entry) -> dict:
        detail = {k: v for k, v in (entry.detail or {}).items() if k not in PRIVATE_DETAIL_KEYS}
        if self._by_someone_else(entry):
            detail["by_administrator"] = True
        return detail
