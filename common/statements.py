"""ORM queries of the hot path, compiled to SQL once per process and run with new values.

Building a query (filters, annotations, joins) costs the ORM far more CPU than running a simple
indexed statement costs the database: on a proxied call, more than all its statements together.
A ``CompiledQuery`` is written as an ordinary queryset, so the rule it expresses stays in one
place, with stand-in values ("marks") where the per-call values go. It is compiled the first
time it runs on a database alias; later runs send the same SQL with the real values and turn
the rows into model instances with the ORM's own machinery (``select_related`` and annotations
included).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]

M = TypeVar("M", bound=Model)


class Mark:
    """A stand-in for one per-call value; its ``value`` must not occur in the query otherwise.

    A query that never uses a mark is refused (the ORM may have changed its value on the way,
    which would leave the stand-in in the statement), unless the mark is ``optional``.
    """

    def __init__(self, name: str, value: Any, *, optional: bool = False) -> None:
        self.name, self.value, self.optional = name, value, optional


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # For each parameter: the name of the mark whose value it takes, or None for a constant.
    roles: tuple[str | None, ...]
    constants: tuple[Any, ...]
    compiler: Any


class CompiledQuery(Generic[M]):
    """``build(marks)`` returns the queryset, with ``marks[name].value`` where values go."""

    def __init__(self, build: Callable[[Mapping[str, Any]], QuerySet[M]], *marks: Mark) -> None:
        self._build = build
        self._marks = {mark.name: mark for mark in marks}
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        with self._lock:
            if alias not in self._compiled:
                stand_ins = {name: mark.value for name, mark in self._marks.items()}
                query = self._build(stand_ins).query
                compiler = query.get_compiler(alias)
                sql, params = compiler.as_sql()
                by_value = {mark.value: name for name, mark in self._marks.items()}
                roles = tuple(
                    by_value.get(value) if isinstance(value, (int, str)) else None
                    for value in params
                )
                used = {role for role in roles if role}
                missing = {name for name, mark in self._marks.items() if not mark.optional} - used
                if missing:
                    raise RuntimeError(f"The compiled query never uses {sorted(missing)}.")
                self._compiled[alias] = _Compiled(sql, roles, tuple(params), compiler)
            return self._compiled[alias]

    def all(self, alias: str = "default", **values: Any) -> list[M]:
        """The instances the query finds with ``values`` for its marks."""
        compiled = self._compile(alias)
        params = [
            values[role] if role else constant
            for role, constant in zip(compiled.roles, compiled.constants, strict=True)
        ]
        compiler = compiled.compiler
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return self._instances(compiler, alias, rows)

    def first(self, alias: str = "default", **values: Any) -> M | None:
        found = self.all(alias, **values)
        return found[0] if found else None

    @staticmethod
    def _instances(compiler: Any, alias: str, rows: list[tuple[Any, ...]]) -> list[M]:
        # What QuerySet iteration (django.db.models.query.ModelIterable) does with its rows.
        select, klass_info = compiler.select, compiler.klass_info
        annotations = compiler.annotation_col_map or {}
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, alias)
        found = []
        for row in compiler.results_iter([rows]):
            instance = model.from_db(alias, names, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            for name, position in annotations.items():
                setattr(instance, name, row[position])
            found.append(instance)
        return found
