"""A database outage on a host's plain Django views is the contract's JSON 503
(``secureauth.middleware.DatabaseUnavailableMiddleware``), in DEBUG too; other
errors are left to the project. The real outage, on real processes, is
tests/faults/test_postgres_faults.py."""

from __future__ import annotations

import pytest
from django.db import OperationalError, ProgrammingError
from django.test import Client, override_settings
from django.urls import path

from tests.settings import MIDDLEWARE


def unreachable(request):
    raise OperationalError('connection to server at "10.0.0.7", port 5432 failed')


def bad_query(request):
    raise ProgrammingError("relation host_table does not exist")


urlpatterns = [path("unreachable/", unreachable), path("bad-query/", bad_query)]

with_middleware = override_settings(
    ROOT_URLCONF="tests.test_database_outage",
    MIDDLEWARE=[*MIDDLEWARE, "secureauth.middleware.DatabaseUnavailableMiddleware"],
)


@pytest.mark.parametrize("debug", [False, True])
def test_an_outage_on_a_plain_view_is_a_json_503(debug):
    with with_middleware, override_settings(DEBUG=debug):
        response = Client().get("/unreachable/")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The service is temporarily unavailable. Try again later.",
        "code": "service_unavailable",
    }
    assert int(response["Retry-After"]) >= 1
    assert response["Cache-Control"] == "no-store"
    assert "10.0.0.7" not in response.content.decode()


def test_other_database_errors_are_left_to_the_project():
    with with_middleware, pytest.raises(ProgrammingError):
        Client().get("/bad-query/")  # the test client re-raises what the project did not handle
