"""The labeling API: queues, my next item (blind), submit a label, the agreement summary."""

from __future__ import annotations

import json

from evolab.labeling.models import Assignment
from tests.labeling.conftest import BACKEND_NAME, MODEL_NAME, SYSTEM_PROMPT, Bench

API = "/api/v1/projects/support-agent/labeling/queues"


def test_list_next_label_and_agreement(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "reviewer"])
    reviewer = bench.team.client_for("reviewer")
    [listed] = reviewer.get(API).json()
    assert (listed["number"], listed["items"], listed["assigned"], listed["labelled"]) == (queue.number, 6, 12, 0)

    body = reviewer.get(f"{API}/{queue.number}/next")
    assert body.status_code == 200
    raw = body.content.decode()
    for leak in (BACKEND_NAME, MODEL_NAME, SYSTEM_PROMPT, bench.harness.digest):
        assert leak not in raw
    nxt = body.json()
    assert (nxt["assigned"], nxt["done"]) == (6, 0)
    position = nxt["item"]["position"]
    assert nxt["item"]["target"] == "30 days" and nxt["item"]["input"][0]["role"] == "user"

    url = f"{API}/{queue.number}/items/{position}/label"
    saved = reviewer.post(url, data=json.dumps({"passed": True, "rationale": "fine"}), content_type="application/json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["passed"] is True and saved.json()["next_position"] == position + 1
    assert reviewer.get(f"{API}/{queue.number}/next").json()["done"] == 1

    bench.team.client_for("owner").post(url, data=json.dumps({"passed": False}), content_type="application/json")
    summary = bench.team.client_for("viewer").get(f"{API}/{queue.number}/agreement").json()
    assert summary["method"] == "Cohen's kappa" and summary["overall"]["items"] == 1
    assert summary["overall"]["percent"] == 0.0


def test_bad_labels_are_refused(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "reviewer"])
    reviewer = bench.team.client_for("reviewer")
    url = f"{API}/{queue.number}/items/1/label"
    missing = reviewer.post(url, data=json.dumps({"rationale": "?"}), content_type="application/json")
    assert missing.status_code == 422 and missing.json()["field"] == "passed"
    out_of_range = reviewer.post(url, data=json.dumps({"score": 3}), content_type="application/json")
    assert out_of_range.status_code == 422
    not_mine = bench.team.client_for("maintainer").post(url, data=json.dumps({"passed": True}), content_type="application/json")
    assert not_mine.status_code == 404
    assert not Assignment.objects.filter(labelled_at__isnull=False).exists()


def test_next_is_empty_when_done(bench: Bench) -> None:
    queue = bench.queue(assignees=["owner", "reviewer"], tag="shipping")
    reviewer = bench.team.client_for("reviewer")
    for position in (1, 2):
        reviewer.post(f"{API}/{queue.number}/items/{position}/label", data=json.dumps({"passed": True}), content_type="application/json")
    assert reviewer.get(f"{API}/{queue.number}/next").json() == {"assigned": 2, "done": 2, "item": None}
