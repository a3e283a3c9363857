"""Fault tests: the service's real processes against PostgreSQL and Redis instances of
their own, which the tests stop, hang and kill (never the shared ones)."""
