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


def can_delete_pages_in_one_statement(queryset: models.QuerySet) -> bool:
    """PostgreSQL, and nothing else depends on the rows: ``delete_next_page`` applies."""
    vendor = connections[queryset.db].vendor
    return vendor == "postgresql" and not dependents_outside(queryset.model, set())


def delete_next_page(queryset: models.QuerySet, after: Any, size: int) -> tuple[int, int, Any]:
    """PostgreSQL: select the next keyset page of ``queryset`` after ``after`` and delete
    its rows that still match, in ONE statement (the keys never leave the server)::

        WITH batch AS (SELECT pk ... WHERE <rule> AND pk > %s ORDER BY pk LIMIT n),
             gone AS (DELETE ... WHERE <rule> AND pk IN (SELECT * FROM batch) RETURNING 1)
        SELECT (SELECT count(*) FROM batch), <last key of batch>, (SELECT count(*) FROM gone)

    Returns (keys in the page, rows deleted, the page's last key)."""
    page = queryset.order_by("pk")
    if after is not None:
        page = page.filter(pk__gt=after)
    try:
        keys_sql, keys_params = page.values("pk")[:size].query.sql_with_params()
    except EmptyResultSet:  # a queryset that can match nothing (``.none()``)
        return 0, 0, after
    doomed = queryset.filter(pk__in=RawSQL("SELECT * FROM batch", ())).order_by()
    query = doomed.query.clone()
    query.__class__ = sql.DeleteQuery
    delete_sql, delete_params = query.get_compiler(queryset.db).as_sql()
    # Both parts are SQL compiled by the ORM, every value a bound parameter.
    statement = (
        f"WITH batch AS ({keys_sql}), gone AS ({delete_sql} RETURNING 1) "  # noqa: S608
        "SELECT (SELECT count(*) FROM batch), (SELECT * FROM batch ORDER BY 1 DESC LIMIT 1), "
        "(SELECT count(*) FROM gone)"
    )
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(statement, (*keys_params, *delete_params))
        found, last, deleted = cursor.fetchone()
    return found, deleted, last
