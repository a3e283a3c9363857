"""Hot statements compiled once per process.

Building and compiling a Django query costs more than running it when the query is
a one-row index lookup with joins and subqueries (the per-request session check,
the refresh-token lookup, the sign-in's user lookup and account lock): most of a
refresh's and a sign-in's time went into the ORM's compiler, not into the database.
A ``PreparedLookup`` compiles its queryset once per database alias, with ``Slot``
expressions standing for the looked-up values, then runs that SQL with the real
values and builds the model instances exactly as the ORM would (``from_db``,
``select_related`` objects, annotations, the backend's converters). The queryset
stays the one definition of the query; only its compilation is kept.
``PreparedInsert`` and ``PreparedUpdate`` do the same for the rows every sign-in
writes (the session, its refresh token, the audit event, ``last_login``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Expression, Field, Model, Q, QuerySet, sql
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save

from ..conf import app_settings

_M = TypeVar("_M", bound=Model)


class _Marker:
    """The parameter a ``Slot`` compiles to: replaced by the slot's value at each run."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class Slot(Expression):
    """The ``index``-th value of a prepared query, in place of a value in a filter
    (``field=slot`` or ``field__gte=slot``: lookups that bind the value as it is)."""

    def __init__(self, index: int, output_field: Field) -> None:
        super().__init__(output_field=output_field)
        self.index = index

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return "%s", [_Marker(self.index)]


class _Statement:
    """Compiled SQL whose parameters hold ``_Marker``s; ``bind`` puts the values in."""

    def __init__(self, sql_text: str, params: Sequence[Any], values: int) -> None:
        self.sql = sql_text
        self.params = list(params)
        # Where each value goes among the parameters (a slot may be used more than once).
        self.slots = [
            (position, param.index)
            for position, param in enumerate(self.params)
            if isinstance(param, _Marker)
        ]
        if {index for _, index in self.slots} != set(range(values)):
            raise ValueError("a prepared statement must use each of its slots")

    def bind(self, bound: Sequence[Any]) -> list[Any]:
        """The parameters with ``bound[i]`` (values as the driver takes them) in slot i."""
        params = list(self.params)
        for position, index in self.slots:
            params[position] = bound[index]
        return params


def concrete_field(model: type[Model], name: str) -> Field:
    """``model._meta.get_field(name)``: a field with a column ("pk" for the primary key)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field), name
    return field


class _Compiled:
    def __init__(self, queryset: QuerySet[Any], fields: Sequence[Field]) -> None:
        db = queryset.db
        self.db = db
        self.fields = list(fields)
        compiler = queryset.query.get_compiler(using=db)
        sql_text, params = compiler.as_sql()
        self.statement = _Statement(sql_text, params, len(self.fields))
        self.compiler = compiler
        klass_info = compiler.klass_info
        assert klass_info is not None
        self.model = klass_info["model"]
        select = compiler.select
        selected = klass_info["select_fields"]
        self.start, self.end = selected[0], selected[-1] + 1
        self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
        self.related = get_related_populators(klass_info, select, db)  # type: ignore[call-arg]
        self.annotations = dict(compiler.annotation_col_map or {})
        if compiler.has_extra_select:
            raise ValueError("a prepared lookup cannot have extra select columns")
        # The backend's converters (e.g. SQLite's datetimes): pure functions of a value.
        self.converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])

    def fetch(self, values: Sequence[Any]) -> list[Any]:
        if len(values) != len(self.fields):
            raise TypeError(f"{len(self.fields)} values expected, got {len(values)}")
        connection = connections[self.db]  # this thread's connection
        # Each value as the ORM would bind it (ValidationError for a bad one).
        bound = [
            field.get_db_prep_value(field.to_python(value), connection)
            for field, value in zip(self.fields, values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(self.statement.sql, self.statement.bind(bound))
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
    """``build(*values)`` returns the queryset for some values of ``fields()``;
    ``fetch(*values)`` runs it, compiled once per process and database alias (until
    settings reload) from ``build(*slots)``: ``Slot`` expressions where the values go."""

    def __init__(
        self,
        name: str,
        build: Callable[..., QuerySet[_M]],
        fields: Callable[[], Sequence[Field]],
    ) -> None:
        self.name = name
        self.build = build
        self.fields = fields

    def _compiled(self) -> _Compiled:
        def compile_() -> _Compiled:
            fields = self.fields()
            slots = [Slot(index, field) for index, field in enumerate(fields)]
            return _Compiled(self.build(*slots), fields)

        return app_settings.memo(f"prepared:{self.name}", compile_)

    def fetch(self, *values: Any) -> list[_M]:
        """The rows for ``values``; ValidationError for a value a field refuses."""
        return self._compiled().fetch(values)

    def first(self, *values: Any) -> _M | None:
        rows = self.fetch(*values)
        return rows[0] if rows else None


class _CompiledInsert:
    """The one-row INSERT of ``model`` on ``db``, as ``Model.save()`` compiles it."""

    def __init__(self, model: type[Model], db: str) -> None:
        connection = connections[db]
        opts = model._meta
        # What Model._do_insert sends for a new row: every local concrete column but an
        # auto primary key, and the columns the database fills returned.
        self.fields = [
            f for f in opts.local_concrete_fields if not f.generated and f is not opts.auto_field
        ]
        self.returning = list(opts.db_returning_fields)
        query = sql.InsertQuery(model)
        query.insert_values(self.fields, [model()])
        compiler = query.get_compiler(using=db)
        compiler.returning_fields = self.returning
        [(self.sql, _)] = compiler.as_sql()
        self.returning_params = getattr(compiler, "returning_params", ())
        columns = [f.get_col(opts.db_table) for f in self.returning]
        self.converters = compiler.get_converters(columns)
        self.compiler = compiler
        self.by_returning = bool(self.returning) and (
            connection.features.can_return_columns_from_insert
        )


class PreparedInsert(Generic[_M]):
    """``Model.objects.create(**values)`` with the INSERT compiled once per process and
    database: the same row, the same instance (``pk`` and database-filled columns set,
    no longer ``adding``). A model with ``pre_save`` or ``post_save`` receivers goes
    through ``create()`` itself, so they still run. For models whose auto primary key
    the database assigns (never given in ``values``) and plain values (no expressions)."""

    def __init__(self, model: Callable[[], type[_M]]) -> None:
        self.model = model

    def create(self, **values: Any) -> _M:
        model = self.model()
        db = router.db_for_write(model)
        if pre_save.has_listeners(model) or post_save.has_listeners(model):
            return model._default_manager.db_manager(db).create(**values)
        compiled: _CompiledInsert = app_settings.memo(
            f"prepared-insert:{model._meta.label}:{db}", lambda: _CompiledInsert(model, db)
        )
        obj = model(**values)
        connection = connections[db]
        params = [
            field.get_db_prep_save(field.pre_save(obj, True), connection)
            for field in compiled.fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            if compiled.by_returning:
                # A backend method django-stubs does not declare.
                row = connection.ops.fetch_returned_insert_columns(  # type: ignore[attr-defined]
                    cursor, compiled.returning_params
                )
            elif compiled.returning:  # an auto primary key, read back
                pk = compiled.returning[0]
                row = (connection.ops.last_insert_id(cursor, model._meta.db_table, str(pk.column)),)
            else:
                row = ()
        if row and compiled.converters:
            [row] = compiled.compiler.apply_converters([row], compiled.converters)
        for field, value in zip(compiled.returning, row, strict=False):
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = db
        return obj


class PreparedUpdate:
    """``Model.objects.filter(<key>=key).update(<field>=value, ...)`` compiled once per
    process and database: ``run(key, *values)`` returns the number of rows updated."""

    def __init__(self, name: str, model: Callable[[], type[Model]], key: str, *fields: str):
        self.name = name
        self.model = model
        self.key = key
        self.fields = fields

    def _compiled(self, db: str) -> tuple[_Statement, list[Field]]:
        def compile_() -> tuple[_Statement, list[Field]]:
            model = self.model()
            key_field = concrete_field(model, self.key)
            targets = [concrete_field(model, name) for name in self.fields]
            query = sql.UpdateQuery(model)
            query.add_update_values(
                {
                    name: Slot(i + 1, field)
                    for i, (name, field) in enumerate(zip(self.fields, targets, strict=True))
                }
            )
            query.add_q(Q(**{self.key: Slot(0, key_field)}))
            fields = [key_field, *targets]
            sql_text, params = query.get_compiler(using=db).as_sql()
            return _Statement(sql_text, params, len(fields)), fields

        return app_settings.memo(f"prepared-update:{self.name}:{db}", compile_)

    def run(self, key: Any, *values: Any) -> int:
        db = router.db_for_write(self.model())
        statement, fields = self._compiled(db)
        connection = connections[db]
        bound = [
            field.get_db_prep_save(field.to_python(value), connection)
            for field, value in zip(fields, (key, *values), strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, statement.bind(bound))
            return cursor.rowcount
