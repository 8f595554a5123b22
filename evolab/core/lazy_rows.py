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
    """`on_page`, when given, sees each page's view objects as they are handed out (the
    holdout audit of a paginated API answer: see evolab.evals.holdout_audit)."""

    def __init__(
        self,
        rows: QuerySet[Any, dict[str, Any]],
        view: Callable[[dict[str, Any]], View],
        on_page: Callable[[list[View]], None] | None = None,
    ) -> None:
        self._rows = rows
        self._view = view
        self._on_page = on_page

    def with_page_hook(self, on_page: Callable[[list[View]], None]) -> LazyRows[View]:
        return LazyRows(self._rows, self._view, on_page)

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
            page = [self._view(row) for row in self._rows[index]]
        else:
            page = [self._view(self._rows[index])]
        if self._on_page is not None:
            self._on_page(page)
        return page if isinstance(index, slice) else page[0]

    def __iter__(self) -> Iterator[View]:
        if self._on_page is not None:
            return iter(self[:])  # one page of everything, so the hook sees every row once
        return (self._view(row) for row in self._rows)
