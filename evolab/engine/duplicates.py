"""Exact and near-duplicate eval cases, by their normalised text.

Two cases that ask the same thing make a suite count it twice, and a train case that
duplicates a holdout case leaks the holdout. Text is normalised (casefolded, punctuation
removed, whitespace collapsed) before comparing: equal normalised text is an *exact*
duplicate; otherwise a Jaccard similarity of at least `threshold` between the sets of
3-word shingles is a *near* duplicate. Texts shorter than three words are compared as
one shingle of all their words, so short texts are only ever exact duplicates.

Candidates are found through an inverted index of shingles, so only pairs that share a
shingle are scored: checking a few hundred new cases against a suite of thousands stays
fast. Pure Python, no Django.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

SHINGLE_WORDS = 3
NEAR_THRESHOLD = 0.9
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Casefold, drop punctuation and symbols (Unicode categories P* and S*), collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(char)[0] in "PS" else char for char in text)
    return _SPACE.sub(" ", kept).strip()


def shingles(normalised: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    words = normalised.split(" ") if normalised else []
    if len(words) < size:
        return frozenset({" ".join(words)}) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Duplicate:
    """`new` (a key of the added set) duplicates `other` (an existing key, or another
    added key when `within_new`); `kind` is "exact" or "near"; `similarity` in 0..1."""

    new: str
    other: str
    kind: str
    similarity: float
    within_new: bool


def find_duplicates(
    new: Mapping[str, str],
    existing: Mapping[str, str],
    *,
    threshold: float = NEAR_THRESHOLD,
) -> list[Duplicate]:
    """Every added case (key → text) that duplicates an existing case or an earlier
    added case. A key present in both maps is the same case (an edit), never its own
    duplicate. Empty texts are ignored. Sorted: exact first, then by similarity."""
    if not 0 < threshold <= 1:
        raise ValueError("threshold is in (0, 1]")
    index: dict[str, set[str]] = defaultdict(set)  # shingle -> keys ("e:" existing, "n:" new)
    prepared: dict[str, tuple[str, frozenset[str]]] = {}

    def add(tag: str, key: str, text: str) -> None:
        norm = normalise(text)
        if not norm:
            return
        grams = shingles(norm)
        prepared[f"{tag}:{key}"] = (norm, grams)
        for gram in grams:
            index[gram].add(f"{tag}:{key}")

    for key, text in existing.items():
        if key not in new:
            add("e", key, text)
    found: list[Duplicate] = []
    for key, text in new.items():
        norm = normalise(text)
        if not norm:
            continue
        grams = shingles(norm)
        candidates: set[str] = set()
        for gram in grams:
            candidates |= index.get(gram, set())
        for ref in sorted(candidates):
            other_norm, other_grams = prepared[ref]
            within = ref.startswith("n:")
            other = ref[2:]
            if other_norm == norm:
                found.append(Duplicate(key, other, "exact", 1.0, within))
                continue
            similarity = jaccard(grams, other_grams)
            if similarity >= threshold:
                found.append(Duplicate(key, other, "near", round(similarity, 3), within))
        add("n", key, text)
    found.sort(key=lambda d: (d.kind != "exact", -d.similarity, d.new, d.other))
    return found
