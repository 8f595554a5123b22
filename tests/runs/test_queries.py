"""Pages and API lists cost the same number of queries for few rows as for many."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunStatus
from tests.runs.conftest import Lab
from tests.runs.helpers import start, targets

pytestmark = pytest.mark.django_db


def _finished_run(lab: Lab, samples: int) -> Run:
    """A completed run of outputs with scores written directly (every case, `samples` each)."""
    outputs = {(key, sample): "x" for key in targets(lab) for sample in range(samples)}
    run = start(lab, backend=None, outputs=outputs, samples=samples)
    for i, pk in enumerate(run.results.values_list("pk", flat=True)):
        CaseResult.objects.filter(pk=pk).update(
            status=ResultStatus.ERROR if i % 7 == 0 else ResultStatus.DONE,
            score=None if i % 7 == 0 else float(i % 2),
            passed=None if i % 7 == 0 else bool(i % 2),
            input_tokens=100,
            output_tokens=20,
            cost_usd=0.001,
            latency_s=0.5,
            finished_at=timezone.now(),
        )
    run.chunks.update(status=ChunkStatus.DONE)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, started_at=timezone.now())
    return run


def _assert_same_bound(
    client: Any, urls: list[str], bound: int, assert_max: Any, headers: dict[str, str] | None = None
) -> None:
    for url in urls:
        with assert_max(bound):
            response = client.get(url, headers=headers or {})
            assert response.status_code == 200, url


def test_runs_list_and_api_list(lab: Lab, django_assert_max_num_queries: Any) -> None:
    client = lab.team.client_for("viewer")
    slug = lab.team.project.slug
    for count in (1, 8):
        while Run.objects.count() < count:
            _finished_run(lab, samples=2)
        # pages pay 2 more queries than the API: the nav counts
        _assert_same_bound(client, [f"/p/{slug}/runs/"], 9, django_assert_max_num_queries)
        _assert_same_bound(client, [f"/api/v1/projects/{slug}/runs"], 7, django_assert_max_num_queries)
        _assert_same_bound(client, [f"/p/{slug}/"], 12, django_assert_max_num_queries)


@pytest.mark.parametrize("samples", [1, 5])
def test_run_page_results_fragment_and_api_results(lab: Lab, samples: int, django_assert_max_num_queries: Any) -> None:
    run = _finished_run(lab, samples=samples)
    client = lab.team.client_for("viewer")
    slug = lab.team.project.slug
    page = f"/p/{slug}/runs/{run.number}/"
    # the page's bound includes the two nav counts; fragments have no navigation
    _assert_same_bound(client, [page, page + "?filter=failed&sort=-tokens"], 14, django_assert_max_num_queries)
    _assert_same_bound(client, [page + "?tag=arithmetic"], 8, django_assert_max_num_queries, {"HX-Request": "true"})
    _assert_same_bound(client, [page + "progress/"], 6, django_assert_max_num_queries)
    _assert_same_bound(
        client,
        [f"/api/v1/projects/{slug}/runs/{run.number}/results", f"/api/v1/projects/{slug}/runs/{run.number}"],
        6,
        django_assert_max_num_queries,
    )
