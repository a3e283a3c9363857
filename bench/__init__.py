"""Benchmarks of SecureAuth against djangorestframework-simplejwt (not tests).

    .venv/bin/python -m bench                 # in-process: time and queries per call
    .venv/bin/python -m bench --http          # gunicorn + wrk on PostgreSQL and Redis
    .venv/bin/python -m bench.breakdown       # where a refresh / authenticated GET spends time

See docs/performance.md. pytest never collects this package (testpaths = ["tests"]).
"""
