"""A queue's agreement: between people (Cohen for two, Fleiss for more, per pair) and of
the llm_judge rubric against the people's majority, with hand-computed expectations."""

from __future__ import annotations

import pytest

from evolab.labeling.actions import label_submit
from evolab.labeling.agreement import queue_agreement
from evolab.labeling.models import LabelingItem, LabelingQueue
from evolab.projects.models import Role
from tests.labeling.conftest import DEV_KEYS, JUDGE_RUBRIC, Bench


def _label_all(bench: Bench, queue: LabelingQueue, labels: dict[str, str]) -> None:
    """labels: username → one letter per dev case in key order, P / F (or a digit 0-9 for
    a score of n/10)."""
    positions = dict(LabelingItem.objects.filter(queue=queue).values_list("result__case__key", "position"))
    for username, letters in labels.items():
        user = getattr(bench.team, username)
        for key, letter in zip(DEV_KEYS, letters, strict=True):
            value = {"passed": letter == "P"} if letter in "PF" else {"score": int(letter) / 10}
            label_submit(actor=user, project=_as(bench, username), queue=queue, position=positions[key], **value)


def _as(bench: Bench, username: str) -> object:
    project = bench.team.project
    project.role = Role.OWNER if username == "owner" else Role.MAINTAINER if username == "maintainer" else Role.REVIEWER  # type: ignore[attr-defined]
    return project


def test_two_people_get_cohens_kappa_and_the_judge_is_compared(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "maintainer"])
    _label_all(bench, queue, {"owner": "PPFFPF", "maintainer": "PFFFPP"})
    summary = queue_agreement(queue, role=Role.VIEWER)
    # Agree on 4 of 6; each says pass 3 times: chance 0.5; kappa (2/3 - 1/2) / (1/2) = 1/3.
    assert summary.method == "Cohen's kappa"
    assert summary.overall.items == 6 and summary.overall.percent == pytest.approx(4 / 6)
    assert summary.overall.kappa == pytest.approx(1 / 3) and summary.overall.warning
    [pair] = summary.pairs
    assert (pair.first, pair.second, pair.stats.kappa) == ("maintainer", "owner", pytest.approx(1 / 3))
    # The judge graded dev-0..dev-3: pass, fail, pass, fail. People: dev-0 pass, dev-1
    # tied (unresolved), dev-2 fail, dev-3 fail. Resolved pairs (T,T) (T,F) (F,F): 2 of 3
    # agree; chance (2*1 + 1*2) / 9 = 4/9; kappa (2/3 - 4/9) / (5/9) = 0.4.
    [judge] = summary.judges
    assert judge.rubric == JUDGE_RUBRIC
    assert (judge.items, judge.unresolved, judge.stats.items) == (4, 1, 3)
    assert judge.stats.percent == pytest.approx(2 / 3) and judge.stats.kappa == pytest.approx(0.4)
    assert not judge.warning
    assert judge.sentence == "judge agrees with people on 67% of 3 items, κ = 0.40"


def test_three_people_get_fleiss_kappa(bench: Bench) -> None:
    queue = bench.queue(reviewers_per_item=3)
    _label_all(bench, queue, {"owner": "PPFPPF", "maintainer": "PPFFPF", "reviewer": "PFFFPP"})
    summary = queue_agreement(queue, role=Role.REVIEWER)
    # P_i: 1, 1/3, 1, 1/3, 1, 1/3 -> 2/3; pooled pass 10 of 18: chance (10² + 8²) / 18².
    chance = (8**2 + 10**2) / 18**2
    assert summary.method == "Fleiss' kappa"
    assert summary.overall.percent == pytest.approx(2 / 3)
    assert summary.overall.kappa == pytest.approx((2 / 3 - chance) / (1 - chance))
    assert len(summary.pairs) == 3
    # The judge against a three-person majority: dev-0 P (judge P), dev-1 P (judge F),
    # dev-2 F (judge P), dev-3 F (judge F): 2 of 4, no tie; both sides say pass twice,
    # so chance is 1/2 and kappa 0.
    [judge] = summary.judges
    assert judge.unresolved == 0 and judge.stats.percent == pytest.approx(2 / 4)
    assert judge.stats.kappa == pytest.approx(0.0) and judge.warning


def test_a_judge_that_disagrees_with_people_is_flagged(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "maintainer"])
    # People say the opposite of the judge on dev-0..dev-3.
    _label_all(bench, queue, {"owner": "FPFPPF", "maintainer": "FPFPPF"})
    [judge] = queue_agreement(queue, role=Role.VIEWER).judges
    assert judge.stats.kappa == pytest.approx(-1.0) and judge.warning
    assert judge.sentence.endswith("do not trust (κ below 0.4)")


def test_scores_are_compared_in_buckets(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "maintainer"], scale="score")
    # Buckets of width 0.2: 0.0/0.1 agree, 0.3/0.2 agree, 0.5/0.9 differ, 0.9/0.8 agree...
    _label_all(bench, queue, {"owner": "035991", "maintainer": "129800"})
    summary = queue_agreement(queue, role=Role.VIEWER)
    assert "5 equal bins" in summary.bucketing
    assert summary.overall.percent == pytest.approx(4 / 6)


def test_a_holdout_rubric_is_hidden_below_maintainer(bench: Bench) -> None:
    queue = bench.queue(split="", assignees=["owner", "maintainer"])
    for position, username in LabelingItem.objects.filter(queue=queue, holdout=True).values_list(
        "position", "assignments__user__username"
    ):
        label_submit(actor=getattr(bench.team, username), project=_as(bench, username), queue=queue, position=position, passed=True)  # type: ignore[arg-type]
    assert queue_agreement(queue, role=Role.VIEWER).judges[0].rubric is None
    assert queue_agreement(queue, role=Role.MAINTAINER).judges[0].rubric == JUDGE_RUBRIC
