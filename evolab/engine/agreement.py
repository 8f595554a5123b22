"""Agreement between raters: percent agreement, Cohen's kappa, Fleiss' kappa, consensus.

Pure Python over plain labels (any hashable: True/False, "pass"/"fail", bucket numbers),
so the same code scores people against people and an LLM judge against people.

Conventions (stated once, used everywhere):

- An *item* is the list of labels it received, one per rater. Items with fewer than two
  labels say nothing about agreement and are left out of percent agreement and Fleiss'
  kappa; the results report how many items were used.
- **Varying numbers of ratings** are handled the standard way for Fleiss' kappa (Fleiss
  1971 generalised to unequal n_i, as in Gwet, *Handbook of Inter-Rater Reliability*):
  each item's observed agreement P_i = Σ_j n_ij (n_ij - 1) / (n_i (n_i - 1)) uses its own
  n_i, P̄ is their mean, and the chance agreement P̄e = Σ_j p_j² uses the category shares
  p_j pooled over every rating. With equal n_i this is exactly Fleiss' formula.
- Kappa is undefined (None) when chance agreement is 1 (every label in one category):
  nothing could disagree, so agreement says nothing about the raters.
- **Scores** (0..1) are compared after bucketing into `SCORE_BUCKETS` equal-width bins
  ([0, 0.2), [0.2, 0.4), …, [0.8, 1.0]; 1.0 falls in the top bin) and treated as nominal
  categories: a 0.1 against a 0.3 counts as a disagreement, the same as 0.1 against 0.9.
  Unweighted kappa is the conservative choice for a warning about trust.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

L = TypeVar("L", bound=Hashable)

SCORE_BUCKETS = 5
# Below this kappa, agreement is at most "fair" (Landis & Koch 1977): a rubric or a judge
# whose labels agree this little with people should not be trusted to grade alone.
KAPPA_WARNING = 0.4


def bucket_score(score: float, buckets: int = SCORE_BUCKETS) -> int:
    """The bin 0..buckets-1 of a score in 0..1 (equal widths; 1.0 is in the top bin)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"score {score} is outside 0..1")
    return min(int(score * buckets), buckets - 1)


def bucket_label(bucket: int, buckets: int = SCORE_BUCKETS) -> str:
    """A bin as people read it, e.g. "0.2-0.4"."""
    width = 1 / buckets
    return f"{bucket * width:.1f}-{(bucket + 1) * width:.1f}"


@dataclass(frozen=True)
class Agreement:
    """Agreement over `items` items (those with at least two labels)."""

    items: int
    percent: float | None  # 0..1; None without items
    kappa: float | None  # None without items or when chance agreement is 1

    @property
    def warning(self) -> bool:
        """Whether the agreement is too weak to trust (kappa below KAPPA_WARNING)."""
        # The tolerance keeps a kappa of exactly 0.4, computed as 0.39999…, out of the warning.
        return self.kappa is not None and self.kappa < KAPPA_WARNING - 1e-9


def _rated(items: Sequence[Sequence[L]]) -> list[Sequence[L]]:
    return [labels for labels in items if len(labels) >= 2]


def _item_agreement(labels: Sequence[L]) -> float:
    """The share of rater pairs on this item that agree (Fleiss' P_i)."""
    n = len(labels)
    return sum(count * (count - 1) for count in Counter(labels).values()) / (n * (n - 1))


def percent_agreement(items: Sequence[Sequence[L]]) -> float | None:
    """Mean share of agreeing rater pairs per item; for two raters, the share of items
    on which they gave the same label. None when no item has two labels."""
    rated = _rated(items)
    if not rated:
        return None
    return sum(_item_agreement(labels) for labels in rated) / len(rated)


def fleiss_kappa(items: Sequence[Sequence[L]]) -> Agreement:
    """Fleiss' kappa over items rated by any number (≥ 2) of raters each."""
    rated = _rated(items)
    if not rated:
        return Agreement(items=0, percent=None, kappa=None)
    observed = sum(_item_agreement(labels) for labels in rated) / len(rated)
    totals: Counter[L] = Counter()
    for labels in rated:
        totals.update(labels)
    ratings = sum(totals.values())
    chance = sum((count / ratings) ** 2 for count in totals.values())
    return Agreement(items=len(rated), percent=observed, kappa=_kappa(observed, chance))


def cohen_kappa(pairs: Sequence[tuple[L, L]]) -> Agreement:
    """Cohen's kappa of two raters, from (rater A's label, rater B's label) per item.

    Chance agreement uses each rater's own label shares (unlike Fleiss/Scott, which pool
    them), so a rater's bias towards one label is not counted as disagreement.
    """
    if not pairs:
        return Agreement(items=0, percent=None, kappa=None)
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    chance = sum(first[label] * second[label] for label in first) / (n * n)
    return Agreement(items=n, percent=observed, kappa=_kappa(observed, chance))


def _kappa(observed: float, chance: float) -> float | None:
    # Floating error can leave chance a hair below 1 when every label is the same.
    if chance >= 1 - 1e-12:
        return None
    return (observed - chance) / (1 - chance)


def consensus(labels: Sequence[L]) -> L | None:
    """The label most raters gave; None (unresolved) without labels or on a tie for first."""
    ranked = Counter(labels).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]
