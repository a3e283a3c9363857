"""Bulk deletes in bounded batches: the statements the cleanup is made of.

Every statement here touches at most one batch of rows and is planned by the
database as an index scan: a keyset page (``pk > last ORDER BY pk LIMIT n``), a
``DELETE ... WHERE pk IN (<the page>) AND <rule>``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import signals, sql
from django.db.models.deletion import DO_NOTHING, get_candidate_relations_to_delete
from django.db.models.expressions import RawSQL


def next_keys(queryset: models.QuerySet, after: Any, size: int) -> list[Any]:
    """The next ``size`` primary keys of ``queryset`` after ``after`` (None: from the
    start), in primary-key order: keyset pagination, which makes progress even
    while other processes delete the same rows."""
    page = queryset.order_by("pk")
    if after is not None:
        page = page.filter(pk__gt=after)
    return list(page.values_list("pk", flat=True)[:size])


def some_keys(queryset: models.QuerySet, size: int) -> list[Any]:
    """Up to ``size`` primary keys of ``queryset``, in no particular order (no ORDER
    BY: the planner walks the filter's own index and stops at ``size``)."""
    return list(queryset.order_by().values_list("pk", flat=True)[:size])


def dependents_outside(model: type[models.Model], handled: set[type[models.Model]]) -> bool:
    """Whether deleting ``model`` rows needs Django's collector: a delete signal
    receiver, or a relation other than ``handled`` that must cascade or be cleared."""
    if any(
        signal.has_listeners(model)
        for signal in (signals.pre_delete, signals.post_delete, signals.m2m_changed)
    ):
        return True
    return any(
        getattr(relation, "on_delete", None) is not DO_NOTHING
        and relation.related_model not in handled
        for relation in get_candidate_relations_to_delete(model._meta)
    )


def delete_rows(queryset: models.QuerySet, *, handled: set[type[models.Model]]) -> int:
    """Delete the (one batch of) rows of ``queryset``: one ``DELETE`` statement when
    nothing else depends on them (``handled`` relations are the caller's business),
    Django's collector otherwise. Returns how many rows of the queryset's model went."""
    model = queryset.model
    if not dependents_outside(model, handled):
        return queryset._raw_delete(queryset.db) or 0  # None when nothing can match
    return queryset.delete()[1].get(model._meta.label, 0)


def can_delete_pages_in_one_statement(
    queryset: models.QuerySet, handled: set[type[models.Model]] | None = None
) -> bool:
    """PostgreSQL, and nothing but ``handled`` models depends on the rows:
    ``delete_next_page`` (``delete_next_page_with_children``) applies."""
    vendor = connections[queryset.db].vendor
    return vendor == "postgresql" and not dependents_outside(queryset.model, handled or set())


def _page_sql(queryset: models.QuerySet, after: Any, size: int) -> tuple[str, tuple[Any, ...]]:
    """The keyset page's ``SELECT pk`` (raises EmptyResultSet for ``.none()``)."""
    page = queryset.order_by("pk")
    if after is not None:
        page = page.filter(pk__gt=after)
    return page.values("pk")[:size].query.sql_with_params()


def _delete_sql(queryset: models.QuerySet) -> tuple[str, tuple[Any, ...]]:
    """``DELETE FROM <table> WHERE <the queryset's filter>``, compiled by the ORM."""
    query = queryset.order_by().query.clone()
    query.__class__ = sql.DeleteQuery
    return query.get_compiler(queryset.db).as_sql()


def _run(queryset: models.QuerySet, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()


_LAST_KEY = "(SELECT * FROM batch ORDER BY 1 DESC LIMIT 1)"


def page_statement(queryset: models.QuerySet, after: Any, size: int) -> tuple[str, tuple]:
    """The statement of ``delete_next_page`` (raises EmptyResultSet for ``.none()``)."""
    keys_sql, keys_params = _page_sql(queryset, after, size)
    delete_sql, delete_params = _delete_sql(
        queryset.filter(pk__in=RawSQL("SELECT * FROM batch", ()))
    )
    # Both parts are SQL compiled by the ORM, every value a bound parameter.
    statement = (
        f"WITH batch AS ({keys_sql}), gone AS ({delete_sql} RETURNING 1) "  # noqa: S608
        f"SELECT (SELECT count(*) FROM batch), {_LAST_KEY}, (SELECT count(*) FROM gone)"
    )
    return statement, (*keys_params, *delete_params)


def delete_next_page(queryset: models.QuerySet, after: Any, size: int) -> tuple[int, int, Any]:
    """PostgreSQL: select the next keyset page of ``queryset`` after ``after`` and delete
    its rows that still match, in ONE statement (the keys never leave the server)::

        WITH batch AS (SELECT pk ... WHERE <rule> AND pk > %s ORDER BY pk LIMIT n),
             gone AS (DELETE ... WHERE <rule> AND pk IN (SELECT * FROM batch) RETURNING 1)
        SELECT (SELECT count(*) FROM batch), <last key of batch>, (SELECT count(*) FROM gone)

    Returns (keys in the page, rows deleted, the page's last key)."""
    try:
        statement, params = page_statement(queryset, after, size)
    except EmptyResultSet:  # a queryset that can match nothing (``.none()``)
        return 0, 0, after
    found, last, deleted = _run(queryset, statement, params)
    return found, deleted, last


def page_with_children_statement(
    queryset: models.QuerySet,
    children: models.QuerySet,
    link: str,
    after: Any,
    size: int,
    most_children: int,
) -> tuple[str, tuple]:
    """The statement of ``delete_next_page_with_children`` (EmptyResultSet for ``.none()``)."""
    keys_sql, keys_params = _page_sql(queryset, after, size)
    owned_sql, owned_params = (
        children.filter(**{f"{link}__in": RawSQL("SELECT * FROM batch", ())})
        .order_by()
        .values("pk")[: most_children + 1]
        .query.sql_with_params()
    )
    parents_sql, parents_params = _delete_sql(
        queryset.filter(
            pk__in=RawSQL("SELECT * FROM batch WHERE (SELECT * FROM owned) <= %s", (most_children,))
        )
    )
    kids_sql, kids_params = _delete_sql(
        children.filter(**{f"{link}__in": RawSQL("SELECT * FROM gone", ())})
    )
    pk_column = connections[queryset.db].ops.quote_name(queryset.model._meta.pk.column)
    # Every part is SQL compiled by the ORM, every value a bound parameter.
    statement = (
        f"WITH batch AS ({keys_sql}), "  # noqa: S608
        f"owned AS (SELECT count(*) FROM ({owned_sql}) AS page_children), "
        f"gone AS ({parents_sql} RETURNING {pk_column}), "
        f"kids AS ({kids_sql} RETURNING 1) "
        f"SELECT (SELECT count(*) FROM batch), {_LAST_KEY}, (SELECT * FROM owned), "
        "(SELECT count(*) FROM gone), (SELECT count(*) FROM kids)"
    )
    return statement, (*keys_params, *owned_params, *parents_params, *kids_params)


def delete_next_page_with_children(
    queryset: models.QuerySet,
    children: models.QuerySet,
    link: str,
    after: Any,
    size: int,
    most_children: int,
) -> tuple[int, int, int, Any]:
    """PostgreSQL: ``delete_next_page`` for rows that own children (``children``' rows
    whose ``link`` column holds their key): the page, the parents that still match and
    all their children go in ONE statement::

        WITH batch AS (<keyset page>),
             owned AS (SELECT count(*) FROM (SELECT 1 FROM <children of batch> LIMIT m + 1)),
             gone AS (DELETE <parents> WHERE <rule> AND pk IN (SELECT * FROM batch
                      WHERE (SELECT * FROM owned) <= m) RETURNING pk),
             kids AS (DELETE <children> WHERE link IN (SELECT * FROM gone) RETURNING 1)
        SELECT <keys in batch>, <last key>, <rows in gone>, <rows in kids>

    A page owning more than ``most_children`` children deletes nothing (the statement
    stays bounded); the caller deletes that page's children in batches first. Returns
    (keys in the page, parents deleted, children deleted, the page's last key); the
    parents deleted are -1 for a page left alone for its many children."""
    try:
        statement, params = page_with_children_statement(
            queryset, children, link, after, size, most_children
        )
    except EmptyResultSet:
        return 0, 0, 0, after
    found, last, owned, deleted, kids = _run(queryset, statement, params)
    if found and owned > most_children:
        return found, -1, 0, last
    return found, deleted, kids, last
