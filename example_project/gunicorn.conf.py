"""gunicorn settings for the example service (docs/deployment.md, "Front proxy and gunicorn").

    gunicorn -c example_project/gunicorn.conf.py example_project.wsgi:application

Every value can be changed from the environment (below) or on the command line, which
wins over this file. gunicorn is meant to run behind a proxy (nginx, Caddy) that
terminates TLS, buffers slow clients and limits body sizes: gunicorn answers some
malformed requests itself, with a short HTML 400, before Django sees them.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sign-ins spend most of their time hashing passwords (CPU), the rest waiting for the
# database: about two workers per core.
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2)
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
# Workers are recycled now and then (jitter: not all at once) to bound memory growth.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)

# A request that takes longer than this is killed (the worker is restarted); on
# shutdown or reload, requests in flight get graceful_timeout to finish.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Behind a proxy that keeps connections to the service open (nginx ``keepalive``).
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Request limits. Tokens travel in headers (Authorization, DPoP: a few KiB) and never in
# URLs; bodies are bounded by SecureAuth's MAX_REQUEST_BYTES and by the proxy.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 50)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)
# Headers whose names hold an underscore are dropped (X_Forwarded_For cannot pose as
# X-Forwarded-For).
header_map = "drop"

# Only these addresses may set X-Forwarded-Proto & co. for gunicorn (the proxy's);
# Django's own trust is BEHIND_TLS_PROXY and SECUREAUTH_NUM_PROXIES.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Access log without query strings or referrers (links in mails carry tokens; a
# referrer may be a page holding one): address, time, method, path, protocol,
# status, bytes, milliseconds, user agent.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Heartbeat files in memory, not on a disk that may be slow or read-only (containers);
# gunicorn creates them with mkstemp, so a shared directory is safe.
_SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(_SHM):
    worker_tmp_dir = _SHM
