"""Hot lookups compiled once per process.

Building and compiling a Django queryset costs more than running it when the query
is a one-row index lookup with joins and subqueries (the per-request session check,
the refresh-token lookup): most of a refresh's time went into the ORM's compiler,
not into the database. A ``PreparedLookup`` compiles its queryset once per
database alias, with a marker standing for the looked-up value, then runs that SQL
with the real value and builds the model instances exactly as the ORM would
(``from_db``, ``select_related`` objects, annotations, the backend's converters).
The queryset stays the one definition of the query; only its compilation is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Field, Model, QuerySet
from django.db.models.query import get_related_populators

from ..conf import app_settings

_M = TypeVar("_M", bound=Model)


def _plain(value: Any) -> Any:
    """A bound parameter as a comparable value: drivers wrap binary values
    (psycopg's ``Binary``, SQLite's ``memoryview``)."""
    value = getattr(value, "obj", value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return (type(value), value)


class _Compiled:
    def __init__(self, queryset: QuerySet[Any], field: Field, sample: Any) -> None:
        db = queryset.db
        self.db = db
        self.field = field
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()
        expected = _plain(self.prepare(sample, connections[db]))
        positions = [i for i, p in enumerate(params) if _plain(p) == expected]
        if len(positions) != 1:
            raise ValueError("a prepared lookup needs its sample value exactly once in the SQL")
        self.sql = sql
        self.params = list(params)
        self.position = positions[0]
        self.compiler = compiler
        klass_info = compiler.klass_info
        assert klass_info is not None
        self.model = klass_info["model"]
        select = compiler.select
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
        self.related = get_related_populators(klass_info, select, db)  # type: ignore[call-arg]
        self.annotations = dict(compiler.annotation_col_map or {})
        if compiler.has_extra_select:
            raise ValueError("a prepared lookup cannot have extra select columns")
        # The backend's converters (e.g. SQLite's datetimes): pure functions of a value.
        self.converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])

    def prepare(self, value: Any, connection: Any) -> Any:
        """The value as the ORM would bind it (raises ValidationError for a bad one)."""
        return self.field.get_db_prep_value(self.field.to_python(value), connection)

    def fetch(self, value: Any) -> list[Any]:
        connection = connections[self.db]  # this thread's connection
        params = list(self.params)
        params[self.position] = self.prepare(value, connection)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows: Any = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        objects = []
        for row in rows:
            obj = self.model.from_db(self.db, self.init_list, row[self.start : self.end])
            for populator in self.related:
                populator.populate(row, obj)
            for name, position in self.annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


class PreparedLookup(Generic[_M]):
    """``build(value)`` returns the queryset for one value of ``field``; ``fetch(value)``
    runs it, compiled once per process and database alias (until settings reload).
    ``sample`` is a valid value of the field that no other parameter of the query can
    equal (it locates the value's place among the compiled parameters)."""

    def __init__(
        self,
        name: str,
        build: Callable[[Any], QuerySet[_M]],
        field: Callable[[], Field],
        sample: Any,
    ) -> None:
        self.name = name
        self.build = build
        self.field = field
        self.sample = sample

    def _compiled(self) -> _Compiled:
        def compile_() -> _Compiled:
            return _Compiled(self.build(self.sample), self.field(), self.sample)

        return app_settings.memo(f"prepared:{self.name}", compile_)

    def fetch(self, value: Any) -> list[_M]:
        """The rows for ``value``; ValidationError for a value the field refuses."""
        return self._compiled().fetch(value)

    def first(self, value: Any) -> _M | None:
        rows = self.fetch(value)
        return rows[0] if rows else None
