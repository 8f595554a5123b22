"""Auditing the held-out rows of a paginated API answer.

ninja's pagination slices the list a view returns after the view has returned, so the view
itself cannot know which rows the response shows. `holdout_audited` gives the lazy row list
a page hook that audits the held-out keys of the page it is sliced into: one `holdout.viewed` event per
response, listing exactly the keys that left the server (none for a viewer whose rows are
sealed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth.models import User

from evolab.core.lazy_rows import LazyRows
from evolab.evals.change_requests import holdout_view_record
from evolab.evals.models import EvalSuite, Split

View = TypeVar("View")


def holdout_audited(
    rows: LazyRows[View], *, actor: User, suite: EvalSuite, where: str, key_of: Callable[[View], str]
) -> LazyRows[View]:
    """Audit the held-out rows each page shows. A row counts when its `split` is holdout and
    it is not `sealed` (a sealed row carries none of the case's text)."""

    def record(page: list[View]) -> None:
        keys = [
            key_of(row)
            for row in page
            if getattr(row, "split", "") == Split.HOLDOUT and not getattr(row, "sealed", False)
        ]
        holdout_view_record(actor=actor, suite=suite, keys=keys, where=where)

    return rows.with_page_hook(record)
