"""The labeling page: blind, one item at a time, a label per person, editable until close."""

from __future__ import annotations

from django.test import Client

from evolab.core.models import AuditEvent
from evolab.labeling.actions import queue_close
from evolab.labeling.models import Assignment, LabelingItem, LabelingQueue
from evolab.projects.models import Membership, Role
from tests.labeling.conftest import BACKEND_NAME, HOLDOUT_INPUT, HOLDOUT_TARGET, MODEL_NAME, SYSTEM_PROMPT, Bench


def _url(queue: LabelingQueue, position: int) -> str:
    return f"/p/{queue.project.slug}/labeling/{queue.number}/items/{position}/"


def _first(queue: LabelingQueue, username: str, holdout: bool | None = None) -> int:
    mine = Assignment.objects.filter(item__queue=queue, user__username=username)
    if holdout is not None:
        mine = mine.filter(item__holdout=holdout)
    return mine.order_by("item__position").values_list("item__position", flat=True)[0]


def test_the_page_is_blind_to_what_produced_the_output(bench: Bench) -> None:
    queue = bench.queue(split="")
    position = _first(queue, "maintainer", holdout=False)
    response = bench.team.client_for("maintainer").get(_url(queue, position))
    assert response.status_code == 200
    html = response.content.decode()
    item = LabelingItem.objects.select_related("result__case").get(queue=queue, position=position)
    # What the labeller needs is there: input, output, target, rubric.
    assert item.result.case.input in html and "The refund window is" in html and "30 days" in html
    assert queue.rubric in html
    # What produced it is not: backend, model, harness version (number, digest, its
    # system prompt), run number or run link.
    for leak in (
        BACKEND_NAME,
        MODEL_NAME,
        SYSTEM_PROMPT,
        bench.harness.digest,
        bench.harness.digest[:12],
        f"/harness/v/{bench.harness.number}/",
        "run 41",
        f"/runs/{bench.run.number}/",
    ):
        assert leak not in html, leak


def test_next_item_then_label_then_next(bench: Bench) -> None:
    queue = bench.queue()
    client = bench.team.client_for("reviewer")
    first = _first(queue, "reviewer")
    response = client.get(f"/p/{queue.project.slug}/labeling/{queue.number}/next/")
    assert response.status_code == 302 and response["Location"] == _url(queue, first)
    response = client.post(_url(queue, first), {"verdict": "pass", "rationale": "names 30 days"})
    assert response.status_code == 302
    mine = Assignment.objects.filter(item__queue=queue, user=bench.team.reviewer).order_by("item__position")
    assert response["Location"] == _url(queue, mine[1].item.position)
    label = mine[0]
    assert (label.passed, label.rationale, label.labelled_at is not None) == (True, "names 30 days", True)
    # Editable: the same person's second label replaces the first (one row).
    client.post(_url(queue, first), {"verdict": "fail", "rationale": "changed my mind"})
    assert Assignment.objects.filter(item__queue=queue, item__position=first, user=bench.team.reviewer).get().passed is False
    assert AuditEvent.objects.filter(action="labeling.label").count() == 2


def test_bad_label_is_refused(bench: Bench) -> None:
    queue = bench.queue()
    client = bench.team.client_for("reviewer")
    position = _first(queue, "reviewer")
    response = client.post(_url(queue, position), {"verdict": "", "rationale": "x"})
    assert response.status_code == 422
    score_queue = bench.queue(scale="score")
    response = client.post(_url(score_queue, _first(score_queue, "reviewer")), {"score": "1.5"})
    assert response.status_code == 422
    assert not Assignment.objects.filter(labelled_at__isnull=False).exists()


def test_labels_are_final_once_the_queue_closes(bench: Bench) -> None:
    queue = bench.queue()
    position = _first(queue, "reviewer")
    client = bench.team.client_for("reviewer")
    client.post(_url(queue, position), {"verdict": "pass"})
    queue_close(actor=bench.team.maintainer, project=bench.team.project, queue=queue)
    response = client.post(_url(queue, position), {"verdict": "fail"})
    assert response.status_code == 422 and "closed" in response.content.decode()
    assert Assignment.objects.get(item__queue=queue, item__position=position, user=bench.team.reviewer).passed is True


def test_an_item_not_assigned_to_you_is_not_found(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "maintainer"])
    response = bench.team.client_for("reviewer").get(_url(queue, 1))
    assert response.status_code == 404


def test_holdout_items_are_for_maintainers_and_each_view_is_audited(bench: Bench) -> None:
    queue = bench.queue(split="")
    position = _first(queue, "maintainer", holdout=True)
    client = bench.team.client_for("maintainer")
    html = client.get(_url(queue, position)).content.decode()
    assert HOLDOUT_INPUT in html and HOLDOUT_TARGET in html
    audit = AuditEvent.objects.get(action="holdout.viewed")
    assert audit.actor == bench.team.maintainer and audit.after["count"] == 1
    # Demoted to reviewer: the holdout item is gone for them, to read and to label.
    Membership.objects.filter(user=bench.team.maintainer).update(role=Role.REVIEWER)
    assert client.get(_url(queue, position)).status_code == 404
    assert client.post(_url(queue, position), {"verdict": "pass"}).status_code == 404


def test_the_target_can_be_hidden(bench: Bench) -> None:
    queue = bench.queue(show_target=False)
    html = bench.team.client_for("reviewer").get(_url(queue, _first(queue, "reviewer"))).content.decode()
    assert "30 days" not in html and "Target" not in html


def test_the_form_is_keyboard_friendly(bench: Bench) -> None:
    queue = bench.queue()
    html = bench.team.client_for("reviewer").get(_url(queue, _first(queue, "reviewer"))).content.decode()
    assert 'accesskey="p" autofocus' in html and 'accesskey="f"' in html and 'accesskey="s"' in html


def test_queue_page_shows_progress_per_labeller(bench: Bench, client: Client) -> None:
    queue = bench.queue()
    reviewer = bench.team.client_for("reviewer")
    reviewer.post(_url(queue, _first(queue, "reviewer")), {"verdict": "pass"})
    html = bench.team.client_for("viewer").get(f"/p/{queue.project.slug}/labeling/{queue.number}/").content.decode()
    assert 'aria-label="reviewer: 1 of 4"' in html and 'aria-label="owner: 0 of 4"' in html
    assert "run 41" not in html  # the source run is shown to maintainers only
    assert "run 41" in bench.team.client_for("maintainer").get(f"/p/{queue.project.slug}/labeling/{queue.number}/").content.decode()
