"""A queryset of plain rows presented as a sequence of view objects, converted lazily.

Paginator and ninja's pagination only count and slice, so a page converts just its own
rows; and templates and schemas get view objects, never model instances whose deferred
(sealed) fields could be loaded by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from django.db.models import QuerySet

View = TypeVar("View")


class LazyRows(Generic[View]):
    def __init__(self, rows: QuerySet[Any, dict[str, Any]], view: Callable[[dict[str, Any]], View]) -> None:
        self._rows = rows
        self._view = view

    def count(self) -> int:
        return self._rows.count()

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> View: ...
    @overload
    def __getitem__(self, index: slice) -> list[View]: ...
    def __getitem__(self, index: int | slice) -> View | list[View]:
        if isinstance(index, slice):
            return [self._view(row) for row in self._rows[index]]
        return self._view(self._rows[index])

    def __iter__(self) -> Iterator[View]:
        return (self._view(row) for row in self._rows)
