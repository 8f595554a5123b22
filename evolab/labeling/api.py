"""Labeling over the REST API, under /api/v1/projects/{slug}/labeling/: list queues, my
next item, submit a label, a queue's agreement summary."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from evolab.core.http import AuthedRequest
from evolab.engine.agreement import Agreement
from evolab.labeling import actions
from evolab.labeling.agreement import queue_agreement
from evolab.labeling.schemas import AgreementOut, LabelIn, LabelOut, NextOut, QueueOut
from evolab.labeling.selectors import ItemView, get_queue, item_view, my_queue, next_position, queues_of
from evolab.projects.models import Role
from evolab.projects.selectors import get_project_for, role_of

router = Router(tags=["labeling"])


def _item(view: ItemView) -> dict[str, Any]:
    return {
        "position": view.position,
        "case_key": view.case_key,
        "input": view.input_messages,
        "output": view.output,
        "target": view.target,
        "holdout": view.holdout,
        "passed": view.passed,
        "score": view.score,
        "rationale": view.rationale,
        "labelled": view.labelled,
    }


def _stats(stats: Agreement) -> dict[str, Any]:
    return {"items": stats.items, "percent": stats.percent, "kappa": stats.kappa, "warning": stats.warning}


@router.get("/{slug}/labeling/queues", response=list[QueueOut])
def list_queues(request: HttpRequest, slug: str) -> Any:
    return list(queues_of(get_project_for(request.user, slug)))


@router.get("/{slug}/labeling/queues/{number}/next", response=NextOut)
def next_item(request: AuthedRequest, slug: str, number: int) -> dict[str, Any]:
    """The first item assigned to you that you have not labelled; `item` is null when done."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    role = role_of(project)
    queue = get_queue(project, number)
    mine = my_queue(queue, request.user, role)
    item = None
    if mine.next_position is not None:
        item = _item(item_view(queue, mine.next_position, request.user, role))
    return {"assigned": mine.assigned, "done": mine.done, "item": item}


@router.post("/{slug}/labeling/queues/{number}/items/{position}/label", response=LabelOut)
def submit_label(request: AuthedRequest, slug: str, number: int, position: int, payload: LabelIn) -> dict[str, Any]:
    """Your label of one of your items (replacing your earlier one while the queue is open)."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    queue = get_queue(project, number)
    assignment = actions.label_submit(
        actor=request.user,
        project=project,
        queue=queue,
        position=position,
        passed=payload.passed,
        score=payload.score,
        rationale=payload.rationale,
    )
    return {
        "position": position,
        "passed": assignment.passed,
        "score": assignment.score,
        "rationale": assignment.rationale,
        "labelled_at": assignment.labelled_at,
        "next_position": next_position(queue, request.user, role_of(project), after=position),
    }


@router.get("/{slug}/labeling/queues/{number}/agreement", response=AgreementOut)
def agreement(request: HttpRequest, slug: str, number: int) -> dict[str, Any]:
    project = get_project_for(request.user, slug)
    summary = queue_agreement(get_queue(project, number), role=role_of(project))
    return {
        "scale": summary.scale,
        "method": summary.method,
        "bucketing": summary.bucketing,
        "labelled_items": summary.labelled_items,
        "overall": _stats(summary.overall),
        "pairs": [{"first": p.first, "second": p.second, "stats": _stats(p.stats)} for p in summary.pairs],
        "judges": [
            {
                "rubric": j.rubric,
                "items": j.items,
                "unresolved": j.unresolved,
                "stats": _stats(j.stats),
                "warning": j.warning,
                "summary": j.sentence,
            }
            for j in summary.judges
        ],
    }
