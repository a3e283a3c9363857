"""What the user-model settings modules change in ``tests.settings``.

Each model runs on a database of its own (``<TEST_DB_SUFFIX>_<model>``): an SQLite
file, or with ``DATABASE_URL`` a PostgreSQL test database, so the runs never clash
with the main suite or with each other.
"""

from __future__ import annotations

import copy
from typing import Any

from tests import settings as base


def databases(model: str) -> dict[str, Any]:
    databases = copy.deepcopy(base.DATABASES)
    test = databases["default"]["TEST"]
    if base.DATABASE_URL:
        test["NAME"] = f"{test['NAME']}_{model}"
    else:
        path = databases["default"]["NAME"].removesuffix(".sqlite3") + f"-{model}.sqlite3"
        databases["default"]["NAME"] = test["NAME"] = path
    return databases


def installed_apps(*extra: str) -> list[str]:
    """The test suite's apps with ``extra`` just before ``secureauth`` (kept last)."""
    apps = [app for app in base.INSTALLED_APPS if app != "secureauth"]
    return [*apps, *extra, "secureauth"]
