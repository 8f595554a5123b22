"""Deterministic split assignment: the same key always lands in the same split, on
every machine and in every version, so a case never drifts into or out of holdout."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "dev", "holdout")
DEFAULT_WEIGHTS = (60, 20, 20)


def assign_split(key: str, weights: tuple[int, int, int] = DEFAULT_WEIGHTS) -> str:
    """The split for `key`, chosen by SHA-256 of the key with the given train/dev/holdout weights."""
    if len(weights) != len(SPLITS) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights are three non-negative numbers with a positive sum")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    # 64 bits of the hash modulo a small total: the bias is far below anything measurable.
    point = int.from_bytes(digest[:8], "big") % sum(weights)
    for split, weight in zip(SPLITS, weights, strict=True):
        if point < weight:
            return split
        point -= weight
    raise AssertionError("unreachable: point < sum(weights)")
