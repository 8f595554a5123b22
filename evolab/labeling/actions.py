"""Every state change of labeling: make a queue (choose items, assign them), label an
item, close a queue. Each is one transaction with its audit record."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout
from evolab.labeling.models import Assignment, LabelingItem, LabelingQueue, QueueAssignee, QueueStatus, Scale
from evolab.projects.models import Membership, Project, Role
from evolab.runs.models import CaseResult, ResultStatus, Run

MAX_ITEMS = 2000
MAX_REVIEWERS_PER_ITEM = 10
MAX_RATIONALE_CHARS = 4000


@dataclass(frozen=True)
class QueueSpec:
    """What a maintainer asks for: which results of a run, the rubric, who labels."""

    name: str
    run_number: int
    rubric: str
    assignees: list[str]  # usernames
    scale: str = Scale.PASS_FAIL
    reviewers_per_item: int = 2
    show_target: bool = True
    split: str = ""
    tag: str = ""
    score_min: float | None = None
    score_max: float | None = None
    sample: int | None = None  # a random sample of this many results (seeded)
    seed: int = 0


def _check_spec(spec: QueueSpec) -> None:
    if not spec.name.strip():
        raise ValidationFailed("Give the queue a name.", field="name")
    if not spec.rubric.strip():
        raise ValidationFailed("Write the rubric labellers grade against.", field="rubric")
    if spec.scale not in Scale.values:
        raise ValidationFailed(f"The scale is one of {', '.join(Scale.values)}.", field="scale")
    if not 1 <= spec.reviewers_per_item <= MAX_REVIEWERS_PER_ITEM:
        raise ValidationFailed(
            f"Reviewers per item is a whole number from 1 to {MAX_REVIEWERS_PER_ITEM}.", field="reviewers_per_item"
        )
    if spec.split and spec.split not in Split.values:
        raise ValidationFailed(f"The split is one of {', '.join(Split.values)}.", field="split")
    for name in ("score_min", "score_max"):
        value = getattr(spec, name)
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise ValidationFailed("Scores run from 0 to 1.", field=name)
    if spec.score_min is not None and spec.score_max is not None and spec.score_min > spec.score_max:
        raise ValidationFailed("The lowest score is above the highest.", field="score_min")
    if spec.sample is not None and not 1 <= spec.sample <= MAX_ITEMS:
        raise ValidationFailed(f"The sample size is from 1 to {MAX_ITEMS:,}.", field="sample")


def _assignees(project: Project, usernames: list[str], needed: int) -> list[tuple[User, Role]]:
    """The chosen members (reviewer or above) with their roles, in the order given."""
    unique = list(dict.fromkeys(name.strip() for name in usernames if name.strip()))
    members = {
        m.user.get_username(): m
        for m in Membership.objects.filter(project=project, user__username__in=unique).select_related("user")
    }
    unknown = [name for name in unique if name not in members]
    if unknown:
        raise ValidationFailed(f"Not a member of this project: {', '.join(unknown)}.", field="assignees")
    too_low = [name for name in unique if members[name].role < Role.REVIEWER]
    if too_low:
        raise ValidationFailed(f"Labellers are reviewers or above: {', '.join(too_low)}.", field="assignees")
    if len(unique) < needed:
        raise ValidationFailed(
            f"Each item needs {needed} different labellers: choose at least {needed}.", field="assignees"
        )
    return [(members[name].user, Role(members[name].role)) for name in unique]


def _chosen_results(run: Run, spec: QueueSpec) -> list[tuple[int, bool]]:
    """(result id, is holdout) of the scored results that match, in case order."""
    results = CaseResult.objects.filter(run=run, status=ResultStatus.DONE)
    if spec.split:
        results = results.filter(case__split=spec.split)
    if spec.tag:
        results = results.filter(case__tag_rows__tag=spec.tag)
    if spec.score_min is not None:
        results = results.filter(score__gte=spec.score_min)
    if spec.score_max is not None:
        results = results.filter(score__lte=spec.score_max)
    rows = [
        (pk, split == Split.HOLDOUT)
        for pk, split in results.order_by("case__key", "sample").values_list("pk", "case__split")
    ]
    if spec.sample is not None and spec.sample < len(rows):
        keep = set(random.Random(spec.seed).sample(range(len(rows)), spec.sample))
        rows = [row for index, row in enumerate(rows) if index in keep]
    if not rows:
        raise ValidationFailed("No scored result of that run matches these filters.", field="run_number")
    if len(rows) > MAX_ITEMS:
        raise ValidationFailed(
            f"{len(rows):,} results match; a queue holds up to {MAX_ITEMS:,}: narrow it or take a sample.",
            field="sample",
        )
    return rows


def balanced_assignment(
    items: list[bool], people: list[tuple[int, bool]], per_item: int
) -> list[list[int]]:
    """For each item (True if holdout), `per_item` distinct people, spreading the load.

    `people` are (user id, may see holdout). Each item goes to the eligible people with
    the fewest items so far; ties go round-robin (rotating with the item's position), so
    a queue of M items and K people gives everyone M·N/K items, give or take one, when
    all are eligible. Raises ValidationFailed if a holdout item lacks eligible people.
    """
    load = {person: 0 for person, _ in people}
    order = {person: index for index, (person, _) in enumerate(people)}
    cleared = [person for person, sees in people if sees]
    everyone = [person for person, _ in people]
    chosen: list[list[int]] = []
    for position, holdout in enumerate(items):
        pool = cleared if holdout else everyone
        if len(pool) < per_item:
            raise ValidationFailed(
                f"Holdout results may only be labelled by maintainers and owners: this queue needs {per_item} "
                f"of them among its labellers, it has {len(cleared)}.",
                field="assignees",
            )
        ranked = sorted(pool, key=lambda p: (load[p], (order[p] - position) % len(everyone)))[:per_item]
        for person in ranked:
            load[person] += 1
        chosen.append(ranked)
    return chosen


def queue_create(*, actor: User, project: Project, spec: QueueSpec) -> LabelingQueue:
    """A queue over the matching results of one run, each assigned to N people."""
    _check_spec(spec)
    run = Run.objects.filter(project=project, number=spec.run_number).first()
    if run is None:
        raise ValidationFailed(f"No run {spec.run_number} in this project.", field="run_number")
    people = _assignees(project, spec.assignees, spec.reviewers_per_item)
    rows = _chosen_results(run, spec)
    plan = balanced_assignment(
        [holdout for _, holdout in rows],
        [(user.pk, can_see_holdout(role)) for user, role in people],
        spec.reviewers_per_item,
    )
    selection = {
        "split": spec.split,
        "tag": spec.tag,
        "score_min": spec.score_min,
        "score_max": spec.score_max,
        "sample": spec.sample,
        "seed": spec.seed,
    }
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (LabelingQueue.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        queue = LabelingQueue.objects.create(
            project=project,
            number=number,
            name=spec.name.strip(),
            run=run,
            rubric=spec.rubric.strip(),
            scale=spec.scale,
            reviewers_per_item=spec.reviewers_per_item,
            show_target=spec.show_target,
            selection=selection,
            created_by=actor,
        )
        QueueAssignee.objects.bulk_create([QueueAssignee(queue=queue, user=user) for user, _ in people])
        items = LabelingItem.objects.bulk_create(
            [
                LabelingItem(queue=queue, result_id=result_id, position=position, holdout=holdout)
                for position, (result_id, holdout) in enumerate(rows, start=1)
            ]
        )
        # bulk_create sets primary keys on PostgreSQL and SQLite ≥ 3.35; read them back
        # by position so this holds on any backend.
        item_ids = dict(LabelingItem.objects.filter(queue=queue).values_list("position", "pk"))
        Assignment.objects.bulk_create(
            [
                Assignment(item_id=item_ids[item.position], user_id=user_id)
                for item, users in zip(items, plan, strict=True)
                for user_id in users
            ]
        )
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="labeling.queue_create",
            object_type="labeling_queue",
            object_id=queue.pk,
            object_label=f"labeling queue {number} · {queue.name}",
            after={
                "run": run.number,
                "items": len(rows),
                "reviewers_per_item": spec.reviewers_per_item,
                "assignees": [user.get_username() for user, _ in people],
                "selection": selection,
            },
        )
        event_emit(project_id=project.pk, type="labeling.queue", object_type="labeling_queue", object_id=queue.pk)
    return queue


def _label_value(queue: LabelingQueue, passed: bool | None, score: float | None) -> tuple[bool | None, float | None]:
    if queue.scale == Scale.PASS_FAIL:
        if passed is None:
            raise ValidationFailed("Choose pass or fail.", field="passed")
        return passed, None
    if score is None or not math.isfinite(score) or not 0 <= score <= 1:
        raise ValidationFailed("Give a score from 0 to 1.", field="score")
    return None, score


def label_submit(
    *,
    actor: User,
    project: Project,
    queue: LabelingQueue,
    position: int,
    passed: bool | None = None,
    score: float | None = None,
    rationale: str = "",
) -> Assignment:
    """Record (or change) the actor's label of one item; only while the queue is open,
    only on an item assigned to them, and a holdout item only while they may see it."""
    if len(rationale) > MAX_RATIONALE_CHARS:
        raise ValidationFailed(f"Keep the rationale under {MAX_RATIONALE_CHARS:,} characters.", field="rationale")
    passed, score = _label_value(queue, passed, score)
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .select_related("item")
            .filter(item__queue=queue, item__position=position, user=actor)
            .first()
        )
        if assignment is None:
            raise Http404("No such item for you in this queue")
        if assignment.item.holdout and not can_see_holdout(project.role):  # type: ignore[attr-defined]
            raise PermissionDenied("Holdout results are labelled by maintainers and owners only.")
        status = LabelingQueue.objects.filter(pk=queue.pk).values_list("status", flat=True).first()
        if status != QueueStatus.OPEN:
            raise Conflict("The queue is closed: labels can no longer change.")
        before = _label_dict(assignment) if assignment.labelled_at else None
        assignment.passed, assignment.score, assignment.rationale = passed, score, rationale.strip()
        assignment.labelled_at = timezone.now()
        assignment.save(update_fields=["passed", "score", "rationale", "labelled_at"])
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="labeling.label",
            object_type="labeling_item",
            object_id=assignment.item_id,
            object_label=f"labeling queue {queue.number} item {position}",
            before=before,
            # The rationale may discuss a holdout case: the audit keeps the verdict only.
            after={"passed": passed, "score": score},
        )
        event_emit(project_id=project.pk, type="labeling.progress", object_type="labeling_queue", object_id=queue.pk)
    return assignment


def _label_dict(assignment: Assignment) -> dict[str, Any]:
    return {"passed": assignment.passed, "score": assignment.score}


def queue_close(*, actor: User, project: Project, queue: LabelingQueue) -> LabelingQueue:
    """Close a queue: its labels are final from now on."""
    with transaction.atomic():
        changed = LabelingQueue.objects.filter(pk=queue.pk, status=QueueStatus.OPEN).update(
            status=QueueStatus.CLOSED, closed_at=timezone.now()
        )
        if not changed:
            raise Conflict("The queue is already closed.")
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="labeling.queue_close",
            object_type="labeling_queue",
            object_id=queue.pk,
            object_label=f"labeling queue {queue.number} · {queue.name}",
        )
        event_emit(project_id=project.pk, type="labeling.queue", object_type="labeling_queue", object_id=queue.pk)
    queue.refresh_from_db()
    return queue
