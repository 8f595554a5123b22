"""Leakage check: long word n-gram overlaps between a text and eval cases.

A harness, a proposal or a guidance text that quotes a case's input or target at length
teaches the loop its eval set (and, for holdout cases, breaks the seal). Short overlaps
are everyday language ("what is the refund window"); twelve words in a row in the same
order almost never are, so the default threshold is 12 normalised words.

Normalisation: Unicode NFKC, case-folded, words are runs of letters and digits (`\\w+`),
so punctuation, whitespace and line breaks do not hide a quote.

Efficiency: `NgramIndex.build` hashes every n-gram of every case once (suite versions are
immutable, so callers cache the index per version); `scan` hashes the text's n-grams and
looks them up by binary search in a sorted array — O(m log N) for a text of m words
against N indexed n-grams. A hash
hit is confirmed against the case's words, so a hash collision is never reported. Input
and target are indexed as separate passages: an overlap never runs across them.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_MIN_WORDS = 12
# Excerpts shown to people stop here; the overlap length is reported in full.
EXCERPT_WORDS = 30

_WORD = re.compile(r"\w+")
# Positions are packed as passage << 32 | word position (a passage has far fewer than
# 2**32 words, and a suite far fewer than 2**31 passages), so one int64 holds both.
_SHIFT = 32
_MASK = (1 << _SHIFT) - 1


def normalised_words(text: str) -> list[str]:
    """The words of `text` as the check compares them."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class CaseText:
    """One passage of a case (its input or its target), as plain text."""

    key: str
    split: str
    text: str


@dataclass(frozen=True)
class Overlap:
    """The longest run of words a text shares with one case."""

    case_key: str
    split: str
    words: int  # length of the overlap in normalised words
    excerpt: str  # the shared words (cut at EXCERPT_WORDS)


class NgramIndex:
    """Every n-gram of a set of case passages, hashed, for repeated scans.

    Stored as two numpy arrays sorted by hash (the n-gram's hash, and where it starts),
    16 bytes per n-gram: a suite of 10,000 cases of 200 words fits in about 30 MB beside
    its (interned) words, and a scan looks up all of a text's n-grams at once.
    """

    def __init__(self, passages: Sequence[CaseText], min_words: int = DEFAULT_MIN_WORDS) -> None:
        if min_words < 2:
            raise ValueError("min_words must be at least 2")
        self.min_words = min_words
        self._passages = list(passages)
        # Interned: case text repeats its words, and the index keeps them for checking hits.
        self._words = [[sys.intern(word) for word in normalised_words(p.text)] for p in self._passages]
        hashes: list[int] = []
        packed: list[int] = []
        for passage, words in enumerate(self._words):
            grams = _gram_hashes(words, min_words)
            hashes.extend(grams)
            packed.extend((passage << _SHIFT) | position for position in range(len(grams)))
        order = np.argsort(np.array(hashes, dtype=np.int64), kind="stable")
        self._hashes = np.array(hashes, dtype=np.int64)[order]
        self._packed = np.array(packed, dtype=np.int64)[order]

    @classmethod
    def build(cls, passages: Iterable[CaseText], min_words: int = DEFAULT_MIN_WORDS) -> NgramIndex:
        return cls(list(passages), min_words)

    @property
    def ngrams(self) -> int:
        """How many n-gram positions the index holds."""
        return len(self._hashes)

    def scan(self, text: str) -> list[Overlap]:
        """The longest overlap of at least `min_words` words with each case, longest first."""
        words = normalised_words(text)
        n = self.min_words
        grams = np.array(_gram_hashes(words, n), dtype=np.int64)
        if not len(grams) or not len(self._hashes):
            return []
        lows = np.searchsorted(self._hashes, grams, side="left")
        highs = np.searchsorted(self._hashes, grams, side="right")
        # (passage, offset of the text against the passage) → text positions of matching n-grams.
        diagonals: dict[tuple[int, int], list[int]] = defaultdict(list)
        for position in np.nonzero(highs > lows)[0].tolist():
            gram = words[position : position + n]
            for packed in self._packed[lows[position] : highs[position]].tolist():
                passage, start = packed >> _SHIFT, packed & _MASK
                if self._words[passage][start : start + n] == gram:  # a hash collision is no match
                    diagonals[(passage, position - start)].append(position)
        best: dict[str, Overlap] = {}
        for (passage, _), positions in diagonals.items():
            for run_start, run_length in _runs(positions):
                length = n + run_length - 1
                source = self._passages[passage]
                current = best.get(source.key)
                if current is None or length > current.words:
                    shown = words[run_start : run_start + min(length, EXCERPT_WORDS)]
                    excerpt = " ".join(shown) + (" …" if length > EXCERPT_WORDS else "")
                    best[source.key] = Overlap(source.key, source.split, length, excerpt)
        return sorted(best.values(), key=lambda o: (-o.words, o.case_key))


def _gram_hashes(words: list[str], n: int) -> list[int]:
    # Python's own hash of a tuple of str: stable within the process, which is all a
    # per-process cache needs, and several times faster than a digest.
    return [hash(tuple(words[position : position + n])) for position in range(len(words) - n + 1)]


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """(start, length) of each run of consecutive positions (sorted ascending)."""
    runs: list[tuple[int, int]] = []
    start = previous = positions[0]
    for position in positions[1:]:
        if position != previous + 1:
            runs.append((start, previous - start + 1))
            start = position
        previous = position
    runs.append((start, previous - start + 1))
    return runs
