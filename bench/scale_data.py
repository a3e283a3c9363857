"""The data of ``bench/scale.py``, built by SQL alone (no ORM, no Python per row),
and the reference purge: the same deletes as ``secureauth_cleanup`` in plain SQL.

Sizes for ``fraction`` 1.0: 200,000 users, 2,000,000 sessions, 4,000,000 refresh
tokens (two per session: a rotated parent and its child), 1,000,000 audit events.
Session ``k`` has a kind ``k % 5`` (a child token 20 days old goes with its session):

| kind | session | parent token (expires) | child token (expires) |
|---|---|---|---|
| 0 | active | 40 days ago (purged) | in 10 days |
| 1 | active | 5 days ago | in 10 days |
| 2 | revoked 31-90 days ago (purged) | 80 days ago (purged) | 20 (k even) or 50 days ago |
| 3 | expired 31-90 days ago (purged) | 100 days ago (purged) | 45 days ago (purged) |
| 4 | revoked 1-20 days ago | 35 days ago (purged) | in 5 days |

Audit event ``a`` is ``a % 500`` days old (events past 365 days are purged) and names
session ``1 + a % sessions``. Token ``j``'s plaintext is ``token_plaintext(j)``, session
``k``'s id ``session_id(k)``: the benchmark computes them instead of storing them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

TOKEN_PREFIX = "scale-token-"


@dataclass(frozen=True)
class Sizes:
    users: int
    sessions: int
    audit_events: int

    @property
    def tokens(self) -> int:
        return 2 * self.sessions

    @classmethod
    def scaled(cls, fraction: float) -> Sizes:
        return cls(
            users=max(1, round(200_000 * fraction)),
            sessions=max(5, round(2_000_000 * fraction)),
            audit_events=max(1, round(1_000_000 * fraction)),
        )

    @classmethod
    def with_tokens(cls, tokens: int) -> Sizes:
        return cls.scaled(tokens / 4_000_000)


def token_plaintext(j: int) -> str:
    return f"{TOKEN_PREFIX}{j:010d}"


def session_id(k: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"scale-session-{k}".encode()).hexdigest())


SESSION_ID_SQL = "md5('scale-session-' || {})::uuid"
DIGEST_SQL = "sha256(convert_to('" + TOKEN_PREFIX + "' || lpad({}::text, 10, '0'), 'UTF8'))"
HEX_DIGEST_SQL = f"encode({DIGEST_SQL}, 'hex')"

USERS = """
INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT i, '!', false, 'scale-user-' || i, '', '', 'scale-user-' || i || '@example.org',
       false, true, now() - interval '400 days'
FROM generate_series(1, %(users)s) AS i;
SELECT setval(pg_get_serial_sequence('auth_user', 'id'), %(users)s);
"""

SESSIONS = f"""
INSERT INTO secureauth_session (id, user_id, device_name, user_agent, browser, os, device_type,
    ip, amr, auth_time, created_at, last_used_at, expires_at, revoked_at, revoked_reason,
    dpop_jkt)
SELECT {SESSION_ID_SQL.format("k")}, 1 + k %% %(users)s, 'Chrome on Linux',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0',
    'Chrome', 'Linux', 'desktop', ('192.0.2.' || (1 + k %% 250))::inet, '["pwd"]'::jsonb,
    created, created, CASE WHEN kind < 2 THEN now() - (k %% 3600) * interval '1 second'
                           ELSE created + interval '1 day' END,
    CASE kind WHEN 3 THEN now() - (31 + k %% 60) * interval '1 day'
              ELSE created + interval '90 days' END,
    CASE kind WHEN 2 THEN now() - (31 + k %% 60) * interval '1 day'
              WHEN 4 THEN now() - (1 + k %% 20) * interval '1 day' END,
    CASE WHEN kind IN (2, 4) THEN 'logout' ELSE '' END, ''
FROM (
    SELECT k, k %% 5 AS kind,
        now() - CASE k %% 5 WHEN 0 THEN (k %% 25) WHEN 1 THEN (k %% 25) WHEN 2 THEN 95 + k %% 30
                          WHEN 3 THEN 125 + k %% 60 ELSE 21 + k %% 9 END * interval '1 day'
            AS created
    FROM generate_series(1, %(sessions)s) AS k
) AS s;
"""

# Parents are tokens 1..S (rotated), children S+1..2S (parent = k).
TOKENS = f"""
INSERT INTO secureauth_refreshtoken (id, session_id, token_hash, parent_id, issued_at,
    expires_at, rotated_at, child_salt)
SELECT j, {SESSION_ID_SQL.format("k")}, DIGEST(j),
    CASE WHEN child THEN k END,
    now() - interval '120 days' + (CASE WHEN child THEN 1 ELSE 0 END) * interval '1 day',
    now() + CASE
        WHEN NOT child THEN (ARRAY[-40, -5, -80, -100, -35])[kind + 1]
        WHEN kind = 2 AND k %% 2 = 0 THEN -20
        ELSE (ARRAY[10, 10, -50, -45, 5])[kind + 1] END * interval '1 day',
    CASE WHEN NOT child THEN now() - interval '119 days' END,
    decode(md5('salt-' || j), 'hex')
FROM (
    SELECT j, 1 + (j - 1) %% %(sessions)s AS k, (1 + (j - 1) %% %(sessions)s) %% 5 AS kind,
        j > %(sessions)s AS child
    FROM generate_series(1, 2 * %(sessions)s) AS j
) AS t;
SELECT setval(pg_get_serial_sequence('secureauth_refreshtoken', 'id'), 2 * %(sessions)s);
"""

AUDIT = f"""
INSERT INTO secureauth_auditevent (event, user_id, session_id, ip, user_agent, created_at, detail)
SELECT 'login_succeeded', 1 + a %% %(users)s, {SESSION_ID_SQL.format("1 + a %% %(sessions)s")},
    '192.0.2.7', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0',
    now() - (a %% 500) * interval '1 day', '{{"method": "pwd"}}'::jsonb
FROM generate_series(1, %(audit_events)s) AS a;
"""


def build(conn: psycopg.Connection, sizes: Sizes, *, hex_digests: bool) -> None:
    """Fill the (migrated, empty) tables; one transaction per table. ``hex_digests``:
    the schema before the storage migration (``token_hash`` as 64 hex characters)."""
    digest = HEX_DIGEST_SQL if hex_digests else DIGEST_SQL
    params = {
        "users": sizes.users,
        "sessions": sizes.sessions,
        "audit_events": sizes.audit_events,
    }
    conn.execute("SET synchronous_commit = off")
    for statement in (USERS, SESSIONS, TOKENS, AUDIT):
        with conn.transaction():
            for part in filter(str.strip, statement.split(";\n")):
                conn.execute(part.replace("DIGEST(j)", digest.format("j")), params)


# The reference purge: keyset batches of the same size, one autocommit statement each.
PLAIN_TOKENS = """
WITH batch AS (SELECT id FROM secureauth_refreshtoken
               WHERE expires_at < %(cutoff)s AND id > %(last)s ORDER BY id LIMIT %(size)s),
     gone AS (DELETE FROM secureauth_refreshtoken WHERE id IN (SELECT id FROM batch) RETURNING 1)
SELECT (SELECT count(*) FROM batch), (SELECT max(id) FROM batch), (SELECT count(*) FROM gone)
"""
PLAIN_SESSIONS = """
WITH batch AS (SELECT id FROM secureauth_session
               WHERE (revoked_at < %(cutoff)s OR expires_at < %(cutoff)s) AND id > %(last)s
               ORDER BY id LIMIT %(size)s),
     tokens AS (DELETE FROM secureauth_refreshtoken
                WHERE session_id IN (SELECT id FROM batch) RETURNING 1),
     gone AS (DELETE FROM secureauth_session WHERE id IN (SELECT id FROM batch) RETURNING 1)
SELECT (SELECT count(*) FROM batch), (SELECT id FROM batch ORDER BY id DESC LIMIT 1),
       (SELECT count(*) FROM gone), (SELECT count(*) FROM tokens)
"""
PLAIN_AUDIT = """
WITH batch AS (SELECT id FROM secureauth_auditevent
               WHERE created_at < %(cutoff)s AND id > %(last)s ORDER BY id LIMIT %(size)s),
     gone AS (DELETE FROM secureauth_auditevent WHERE id IN (SELECT id FROM batch) RETURNING 1)
SELECT (SELECT count(*) FROM batch), (SELECT max(id) FROM batch), (SELECT count(*) FROM gone)
"""


def plain_purge(
    conn: psycopg.Connection, token_cutoff: datetime, audit_cutoff: datetime, size: int
) -> dict[str, int]:
    """What ``secureauth_cleanup`` deletes (there are no challenges in this data)."""
    deleted = {"refresh_tokens": 0, "sessions": 0, "audit_events": 0}
    conn.autocommit = True

    def run(statement: str, cutoff: datetime, last: object, kind: str) -> None:
        while True:
            row = conn.execute(statement, {"cutoff": cutoff, "last": last, "size": size}).fetchone()
            assert row is not None
            found, last = row[0], row[1]
            deleted[kind] += row[2]
            if len(row) > 3:
                deleted["refresh_tokens"] += row[3]
            if found < size:
                return

    run(PLAIN_TOKENS, token_cutoff, 0, "refresh_tokens")
    run(PLAIN_SESSIONS, token_cutoff, uuid.UUID(int=0), "sessions")
    run(PLAIN_AUDIT, audit_cutoff, 0, "audit_events")
    return deleted
