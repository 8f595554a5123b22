"""ninja's limit/offset pagination with the offset bounded.

ninja accepts any non-negative offset, and one past the database's integer range (found by
schema fuzzing: `?offset=29277506974028120394754424832`) overflows in SQL and answers 500.
No list here comes near 2**31 rows, so a larger offset is refused as invalid input (422).
"""

from __future__ import annotations

from ninja import Field
from ninja.pagination import LimitOffsetPagination as NinjaLimitOffsetPagination

MAX_OFFSET = 2**31 - 1


class LimitOffsetPagination(NinjaLimitOffsetPagination):
    class Input(NinjaLimitOffsetPagination.Input):
        offset: int = Field(0, ge=0, le=MAX_OFFSET)
