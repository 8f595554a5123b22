"""Which audit events record a head move, and where each keeps the version head moved to.

Issue #11 asks for exactly one audit event per decision, so a decision that moves head
records the move in its own event instead of a separate `harness.head`:

- `harness.head`: a person moved head directly (or committed a version that became head);
  `before`/`after` are `{"number", "digest"}` of the old and new head.
- `harness.revert`: a revert by hand from the harness page; `after["number"]` is the new
  version, which is head now.
- `proposal.merge`: a reviewed merge or an auto-merge by the campaign loop;
  `before`/`after` carry `{"head", "digest"}` of the old and new head.
- `proposal.revert`: a merged proposal taken back out; the same `"head"` key.

`harness.*` events name the version by "number", `proposal.*` events by "head". Logs
written before this rule also hold a `harness.head` event beside each merge and revert;
readers treat the same version twice in a row as one move (`head_moves`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from evolab.harnesses.models import HarnessVersion

HEAD_MOVE_ACTIONS: tuple[str, ...] = ("harness.head", "harness.revert", "proposal.merge", "proposal.revert")


def head_fields(version: HarnessVersion | None) -> dict[str, Any]:
    """The head part of a `proposal.*` event's before or after."""
    if version is None:
        return {"head": None}
    return {"head": version.number, "digest": version.digest}


def moved_to(action: str, after: object) -> int | None:
    """The version number head moved to in an audit event, or None if it records no move."""
    if action not in HEAD_MOVE_ACTIONS or not isinstance(after, dict):
        return None
    number = after.get("number" if action.startswith("harness.") else "head")
    # bool is an int: a malformed event must not read as v1 / v0.
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def head_moves(rows: Iterable[tuple[str, datetime, object]]) -> list[tuple[int, datetime]]:
    """(version number, when) for each head move in `rows` of (action, created_at, after),
    given oldest first; the same version twice in a row is one move (older logs recorded
    a merge both as `harness.head` and as `proposal.merge`/`proposal.revert`)."""
    moves: list[tuple[int, datetime]] = []
    for action, created, after in rows:
        number = moved_to(action, after)
        if number is not None and (not moves or moves[-1][0] != number):
            moves.append((number, created))
    return moves
