"""The proposer's prompt is the same text on every database."""

from __future__ import annotations

from evolab.evolution.proposers import _grade_text


def test_grade_details_read_the_same_whatever_order_the_database_gives_their_keys() -> None:
    # PostgreSQL's jsonb returns keys shortest first; SQLite returns them as written.
    as_written = {"extracted": 29.5, "target": 31.67, "difference": 2.17}
    as_jsonb = {"target": 31.67, "extracted": 29.5, "difference": 2.17}
    assert _grade_text(as_written) == _grade_text(as_jsonb) == '{"difference": 2.17, "extracted": 29.5, "target": 31.67}'
    assert _grade_text({"reason": "wrong unit", "target": 1}) == "wrong unit"
    assert _grade_text(None) == "{}"
