"""Reads for labeling. Callers reach the project through `get_project_for`.

Blind labelling: an item is shown as case input, output, transcript (without the system
prompt, which is harness text) and target — never the run, harness version, backend or
model. Holdout items are read only by maintainers and owners (they are the only ones
assigned them, and the role is checked again on every read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from evolab.core.actions import audit_record
from evolab.evals.selectors import can_see_holdout
from evolab.labeling.models import Assignment, LabelingItem, LabelingQueue
from evolab.projects.models import Project, Role
from evolab.runs.transcripts import TranscriptEntry, transcript_entries


def queues_of(project: Project) -> QuerySet[LabelingQueue]:
    """The project's queues, newest first, with item and label counts (one query)."""
    return (
        LabelingQueue.objects.filter(project=project)
        .annotate(
            item_count=Count("items", distinct=True),
            assigned_count=Count("items__assignments"),
            labelled_count=Count("items__assignments", filter=Q(items__assignments__labelled_at__isnull=False)),
        )
        .order_by("-number")
    )


def get_queue(project: Project, number: int) -> LabelingQueue:
    queue = queues_of(project).filter(number=number).select_related("run").first()
    if queue is None:
        raise Http404(f"No labeling queue {number}")
    return queue


@dataclass(frozen=True)
class Progress:
    username: str
    assigned: int
    done: int

    @property
    def percent(self) -> float:
        return 100 * self.done / self.assigned if self.assigned else 0.0


def assignee_progress(queue: LabelingQueue) -> list[Progress]:
    """Done / assigned per labeller, in one query."""
    rows = (
        Assignment.objects.filter(item__queue=queue)
        .values("user__username")
        .annotate(assigned=Count("pk"), done=Count("pk", filter=Q(labelled_at__isnull=False)))
        .order_by("user__username")
    )
    return [Progress(row["user__username"], row["assigned"], row["done"]) for row in rows]


def _mine(queue: LabelingQueue, user: User, role: Role | int) -> QuerySet[Assignment]:
    mine = Assignment.objects.filter(item__queue=queue, user=user)
    # A labeller whose role fell below maintainer no longer sees their holdout items.
    return mine if can_see_holdout(role) else mine.filter(item__holdout=False)


def next_position(queue: LabelingQueue, user: User, role: Role | int, after: int = 0) -> int | None:
    """The first of the user's unlabelled items after `after` (wrapping round), or None."""
    todo = _mine(queue, user, role).filter(labelled_at__isnull=True).order_by("item__position")
    position = todo.filter(item__position__gt=after).values_list("item__position", flat=True).first()
    if position is None:
        position = todo.values_list("item__position", flat=True).first()
    return position


@dataclass(frozen=True)
class MyQueue:
    assigned: int
    done: int
    next_position: int | None


def my_queue(queue: LabelingQueue, user: User, role: Role | int) -> MyQueue:
    counts = _mine(queue, user, role).aggregate(
        assigned=Count("pk"), done=Count("pk", filter=Q(labelled_at__isnull=False))
    )
    return MyQueue(counts["assigned"], counts["done"], next_position(queue, user, role))


@dataclass(frozen=True)
class ItemView:
    """What a labeller sees of one item: nothing that names what produced the output."""

    position: int
    case_key: str
    input_messages: list[dict[str, str]]
    output: str
    transcript: list[TranscriptEntry]
    target: str | None  # None when the labeller may not see it
    holdout: bool
    passed: bool | None
    score: float | None
    rationale: str
    labelled: bool
    index: int  # 1-based among the labeller's items
    of: int
    previous: int | None
    next: int | None


def _messages(case_input: Any) -> list[dict[str, str]]:
    if isinstance(case_input, list):
        return [{"role": str(m.get("role", "?")), "content": str(m.get("content", ""))} for m in case_input]
    return [{"role": "user", "content": str(case_input)}]


def item_view(queue: LabelingQueue, position: int, user: User, role: Role | int) -> ItemView:
    """One of the user's items; 404 if it is not theirs (or is holdout and they may no
    longer see holdout). A view of a holdout item is audited."""
    assignment = (
        _mine(queue, user, role)
        .filter(item__position=position)
        .select_related("item__result__case__version__suite")
        .first()
    )
    if assignment is None:
        raise Http404("No such item for you in this queue")
    item: LabelingItem = assignment.item
    result = item.result
    case = result.case
    positions = list(_mine(queue, user, role).order_by("item__position").values_list("item__position", flat=True))
    index = positions.index(position)
    if item.holdout:
        audit_record(
            actor=user,
            project_id=queue.project_id,
            action="holdout.viewed",
            object_type="suite",
            object_id=case.version.suite_id,
            object_label=case.version.suite.slug,
            after={"where": f"labeling queue {queue.number} item {position}", "keys": [case.key], "count": 1},
        )
    shows_target = queue.show_target and (not item.holdout or can_see_holdout(role))
    return ItemView(
        position=position,
        case_key=case.key,
        input_messages=_messages(case.input),
        output=result.output,
        transcript=[e for e in transcript_entries(result.transcript, result.tool_calls) if e.role != "system"],
        target=case.target if shows_target else None,
        holdout=item.holdout,
        passed=assignment.passed,
        score=assignment.score,
        rationale=assignment.rationale,
        labelled=assignment.labelled_at is not None,
        index=index + 1,
        of=len(positions),
        previous=positions[index - 1] if index > 0 else None,
        next=positions[index + 1] if index + 1 < len(positions) else None,
    )
