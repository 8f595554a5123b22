"""The queue pages cost a fixed number of queries whatever the queue's size."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.labeling.actions import label_submit
from evolab.labeling.models import Assignment
from evolab.projects.models import Role
from tests.labeling.conftest import Bench


def _label_everything(bench: Bench, queue: Any) -> None:
    project = bench.team.project
    for assignment in Assignment.objects.filter(item__queue=queue).select_related("item", "user"):
        project.role = Role.OWNER  # type: ignore[attr-defined]
        label_submit(actor=assignment.user, project=project, queue=queue, position=assignment.item.position, passed=True)


@pytest.mark.parametrize("split", ["dev", ""])
def test_queue_pages_cost_a_fixed_number_of_queries(bench: Bench, split: str, django_assert_num_queries: Any) -> None:
    queue = bench.queue(split=split)
    bench.queue(split=split, name="second")
    _label_everything(bench, queue)
    client = bench.team.client_for("maintainer")
    slug = bench.team.project.slug
    # Each full page includes the session, the membership and the two nav counts.
    with django_assert_num_queries(6):
        assert client.get(f"/p/{slug}/labeling/").status_code == 200
    with django_assert_num_queries(13):
        assert client.get(f"/p/{slug}/labeling/{queue.number}/").status_code == 200
