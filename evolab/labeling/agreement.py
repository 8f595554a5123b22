"""Agreement in a queue: between people, and between each LLM-judge rubric and people.

Labels compared: pass/fail as given; scores bucketed (see evolab.engine.agreement). A
judge's label is its CaseResult's `passed` (the grader's own threshold) on a pass/fail
queue, its bucketed score on a score queue. The people's consensus on an item is the
majority label; a tie is *unresolved*: counted and shown, left out of the judge's kappa.

Between people: when exactly two people labelled, Cohen's kappa over the items both
labelled; with more, Fleiss' kappa over every item with two or more labels (items may
have different numbers of labels, see evolab.engine.agreement). Each pair of people also
gets Cohen's kappa over the items they share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from itertools import combinations

from evolab.engine.agreement import (
    KAPPA_WARNING,
    SCORE_BUCKETS,
    Agreement,
    bucket_score,
    cohen_kappa,
    consensus,
    fleiss_kappa,
)
from evolab.evals.selectors import can_see_holdout
from evolab.labeling.models import Assignment, LabelingItem, LabelingQueue, Scale
from evolab.projects.models import Role


@dataclass(frozen=True)
class PairAgreement:
    first: str
    second: str
    stats: Agreement


@dataclass(frozen=True)
class JudgeAgreement:
    """One llm_judge rubric against the people's consensus on the items it graded."""

    rubric: str | None  # None when it is the grader of holdout cases the viewer may not read
    items: int  # items it graded that people labelled
    unresolved: int  # of those, items where people tied
    stats: Agreement  # over the resolved items

    @property
    def warning(self) -> bool:
        return self.stats.warning

    @property
    def sentence(self) -> str:
        """E.g. "judge agrees with people on 62% of 40 items, κ = 0.21 — do not trust"."""
        if self.stats.percent is None:
            return "no item with a human consensus yet"
        kappa = "κ undefined (one label only)" if self.stats.kappa is None else f"κ = {self.stats.kappa:.2f}"
        verdict = f" — do not trust (κ below {KAPPA_WARNING})" if self.warning else ""
        return f"judge agrees with people on {self.stats.percent:.0%} of {self.stats.items} items, {kappa}{verdict}"


@dataclass(frozen=True)
class QueueAgreement:
    scale: str
    method: str  # "Cohen's kappa" (two labellers) or "Fleiss' kappa"
    overall: Agreement
    labelled_items: int  # items with at least one label
    pairs: list[PairAgreement] = field(default_factory=list)
    judges: list[JudgeAgreement] = field(default_factory=list)

    @property
    def bucketing(self) -> str:
        if self.scale == Scale.SCORE:
            return f"scores compared in {SCORE_BUCKETS} equal bins (0-0.2, …, 0.8-1)"
        return "pass / fail"


def _label(scale: str, passed: bool | None, score: float | None) -> Hashable | None:
    if scale == Scale.SCORE:
        return None if score is None else bucket_score(score)
    return passed


def queue_agreement(queue: LabelingQueue, *, role: Role | int) -> QueueAgreement:
    """Agreement numbers of a queue; a fixed number of queries whatever its size."""
    labels: dict[int, dict[str, Hashable]] = defaultdict(dict)
    for item_id, username, passed, score in Assignment.objects.filter(
        item__queue=queue, labelled_at__isnull=False
    ).values_list("item_id", "user__username", "passed", "score"):
        value = _label(queue.scale, passed, score)
        if value is not None:
            labels[item_id][username] = value
    people = sorted({name for by_person in labels.values() for name in by_person})
    if len(people) == 2:
        method = "Cohen's kappa"
        overall = cohen_kappa([(v[people[0]], v[people[1]]) for v in labels.values() if len(v) == 2])
    else:
        method = "Fleiss' kappa"
        overall = fleiss_kappa([list(v.values()) for v in labels.values()])
    pairs = []
    for first, second in combinations(people, 2):
        shared = [(v[first], v[second]) for v in labels.values() if first in v and second in v]
        if shared:
            pairs.append(PairAgreement(first, second, cohen_kappa(shared)))
    return QueueAgreement(
        scale=queue.scale,
        method=method,
        overall=overall,
        labelled_items=len(labels),
        pairs=pairs,
        judges=_judges(queue, labels, role),
    )


def _judges(queue: LabelingQueue, labels: dict[int, dict[str, Hashable]], role: Role | int) -> list[JudgeAgreement]:
    graded: dict[str, list[tuple[Hashable, Hashable | None]]] = defaultdict(list)
    holdout_rubrics: set[str] = set()
    rows = LabelingItem.objects.filter(queue=queue, pk__in=list(labels)).values_list(
        "pk",
        "holdout",
        "result__passed",
        "result__score",
        "result__case__grader",
        "result__case__version__default_grader",
    )
    for item_id, holdout, passed, score, case_grader, default_grader in rows:
        # A case's own grader, else its version's default (as evals.models.effective_grader).
        grader = case_grader or default_grader or {}
        if grader.get("type") != "llm_judge":
            continue
        judge = _label(queue.scale, passed, score)
        if judge is None:
            continue
        rubric = str(grader.get("rubric", ""))
        graded[rubric].append((judge, consensus(list(labels[item_id].values()))))
        if holdout:
            holdout_rubrics.add(rubric)
    judges = []
    for rubric, pairs in sorted(graded.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        resolved = [(judge, people) for judge, people in pairs if people is not None]
        hidden = rubric in holdout_rubrics and not can_see_holdout(role)
        judges.append(
            JudgeAgreement(
                rubric=None if hidden else rubric,
                items=len(pairs),
                unresolved=len(pairs) - len(resolved),
                stats=cohen_kappa(resolved),
            )
        )
    return judges

