"""Making a queue: which results, who gets them (balanced, N distinct, holdout only to
maintainers and up), and the refusals that write nothing."""

from __future__ import annotations

from collections import Counter

import pytest

from evolab.core.errors import ValidationFailed
from evolab.core.models import AuditEvent
from evolab.labeling.actions import balanced_assignment
from evolab.labeling.models import Assignment, LabelingItem, LabelingQueue
from tests.labeling.conftest import DEV_KEYS, HOLDOUT_KEYS, Bench


def _assigned(queue: LabelingQueue) -> dict[str, list[str]]:
    by_case: dict[str, list[str]] = {}
    for key, username in Assignment.objects.filter(item__queue=queue).values_list(
        "item__result__case__key", "user__username"
    ):
        by_case.setdefault(key, []).append(username)
    return by_case


def test_it_assigns_each_item_to_n_distinct_people_evenly(bench: Bench) -> None:
    queue = bench.queue()
    by_case = _assigned(queue)
    assert sorted(by_case) == DEV_KEYS
    assert all(len(people) == 2 == len(set(people)) for people in by_case.values())
    load = Counter(person for people in by_case.values() for person in people)
    assert load == {"owner": 4, "maintainer": 4, "reviewer": 4}  # 6 items x 2 / 3 people
    assert list(LabelingItem.objects.filter(queue=queue).values_list("position", flat=True)) == [1, 2, 3, 4, 5, 6]
    audit = AuditEvent.objects.get(action="labeling.queue_create")
    assert audit.after["items"] == 6 and audit.actor == bench.team.maintainer


def test_balanced_assignment_spreads_any_load() -> None:
    plan = balanced_assignment([False] * 7, [(1, True), (2, False), (3, False), (4, True)], 3)
    load = Counter(person for people in plan for person in people)
    assert max(load.values()) - min(load.values()) <= 1 and sum(load.values()) == 21


def test_holdout_items_go_only_to_maintainers_and_owners(bench: Bench) -> None:
    queue = bench.queue(split="")
    by_case = _assigned(queue)
    for key in HOLDOUT_KEYS:
        assert set(by_case[key]) == {"owner", "maintainer"}
    assert LabelingItem.objects.filter(queue=queue, holdout=True).count() == 2


def test_holdout_items_need_enough_maintainers(bench: Bench) -> None:
    with pytest.raises(ValidationFailed, match="maintainers and owners"):
        bench.queue(split="", reviewers_per_item=3)
    assert not LabelingQueue.objects.exists() and not Assignment.objects.exists()


def test_filters_choose_the_results(bench: Bench) -> None:
    assert LabelingItem.objects.filter(queue=bench.queue(tag="shipping")).count() == 2
    low = bench.queue(score_max=0.5)
    assert sorted(_assigned(low)) == ["dev-1", "dev-3", "dev-5"]
    first = bench.queue(sample=3, seed=5)
    again = bench.queue(sample=3, seed=5)
    assert sorted(_assigned(first)) == sorted(_assigned(again)) and len(_assigned(first)) == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"assignees": ["owner", "viewer"]}, "assignees"),  # a viewer may not label
        ({"assignees": ["owner", "outsider"]}, "assignees"),  # not a member
        ({"assignees": ["owner"]}, "assignees"),  # fewer people than reviewers per item
        ({"rubric": "  "}, "rubric"),
        ({"reviewers_per_item": 0}, "reviewers_per_item"),
        ({"run_number": 999}, "run_number"),
        ({"tag": "no-such-tag"}, "run_number"),
        ({"score_min": 0.8, "score_max": 0.2}, "score_min"),
        ({"scale": "stars"}, "scale"),
        ({"split": "nope"}, "split"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(bench: Bench, changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        bench.queue(**changes)
    assert error.value.field == field
    assert not LabelingQueue.objects.exists()
