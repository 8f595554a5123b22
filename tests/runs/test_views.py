"""Pages: start a run (with its estimate), a run's progress and results, one result's
transcript (inert), holdout sealing, cancel and resume, the runs list and the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from evolab.engine.statistics import score_estimate
from evolab.runs.models import CaseResult, ResultStatus, Run, RunStatus
from tests.runs.conftest import Lab
from tests.runs.helpers import SECRET_INPUT, SECRET_OUTPUT, SECRET_TARGET, drain, sealed_run, start, targets

SECRETS = (SECRET_INPUT.encode(), SECRET_OUTPUT.encode(), SECRET_TARGET.encode())


def _url(lab: Lab, path: str = "") -> str:
    return f"/p/{lab.team.project.slug}/runs/{path}"


def _form(lab: Lab, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "harness": str(lab.harness.number),
        "suite_version": f"demo@{lab.suite_version.number}",
        "splits": ["dev"],
        "backend": lab.backend.name,
        "samples": "2",
        "seed": "0",
        "use_cache": "on",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
class TestStart:
    def test_the_form_offers_the_project_choices_with_defaults(self, lab: Lab) -> None:
        body = lab.team.client_for("maintainer").get(_url(lab, "new/")).content.decode()
        assert f'value="{lab.harness.number}" selected' in body and "(head)" in body
        assert 'value="demo@1" selected' in body and "(latest)" in body
        assert "(simulated)" in body and 'value="holdout"' in body
        assert 'hx-get="/p/support-agent/runs/new/estimate/"' in body

    def test_the_estimate_panel_follows_the_form(self, lab: Lab) -> None:
        client = lab.team.client_for("maintainer")
        response = client.get(_url(lab, "new/estimate/"), _form(lab), headers={"HX-Request": "true"})
        body = response.content.decode()
        assert response.status_code == 200 and body.lstrip().startswith('<section id="estimate"')
        assert "24 episodes" in body and "Basis: assuming one turn" in body and "$0.0" in body
        bad = client.get(_url(lab, "new/estimate/"), _form(lab, samples="0"), headers={"HX-Request": "true"})
        assert b"Correct the form" in bad.content

    def test_preview_shows_the_estimate_without_starting(self, lab: Lab) -> None:
        response = lab.team.client_for("maintainer").post(_url(lab, "new/"), {**_form(lab), "action": "preview"})
        assert response.status_code == 200 and b"24 episodes" in response.content
        assert not Run.objects.exists()

    def test_start_creates_the_run_with_its_estimate(self, lab: Lab) -> None:
        response = lab.team.client_for("maintainer").post(
            _url(lab, "new/"), {**_form(lab), "action": "start", "cost_cap_usd": "1.5"}
        )
        run = Run.objects.get()
        assert response.status_code == 302 and response["Location"] == _url(lab, f"{run.number}/")
        assert run.total_results == 24 and run.samples == 2 and run.estimate_usd > 0
        assert run.max_concurrency == lab.backend.max_concurrency  # the backend's, by default
        assert str(run.cost_cap_usd) == "1.5000" and run.use_cache and run.backend_simulated

    def test_bad_input_is_shown_next_to_its_field(self, lab: Lab) -> None:
        client = lab.team.client_for("maintainer")
        response = client.post(_url(lab, "new/"), _form(lab, samples="21", suite_version="demo@9"))
        assert response.status_code == 422
        assert b"less than or equal to 20" in response.content and b"Select a valid choice" in response.content
        response = client.post(_url(lab, "new/"), _form(lab, splits=["train"]))
        assert response.status_code == 422 and b"No case of this suite version" in response.content
        assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_run_page_shows_progress_numbers(lab: Lab) -> None:
    run = drain(start(lab, samples=2))
    assert run.status == RunStatus.COMPLETED
    scores: dict[str, list[float]] = {}
    for key, score in CaseResult.objects.filter(run=run).values_list("case__key", "score"):
        scores.setdefault(key, []).append(score)
    expected = score_estimate(scores)
    assert expected is not None
    client = lab.team.client_for("viewer")
    body = client.get(_url(lab, f"{run.number}/")).content.decode()
    assert "<strong>24</strong> / 24" in body and "errors <strong>0</strong>" in body
    assert f"{expected.mean * 100:.1f}% ±{expected.half_width * 100:.1f}" in body
    assert f"n={expected.n} k=2" in body and ">simulated<" in body
    assert "Cancel</button>" not in body and "Resume" not in body  # a viewer; and the run is over
    fragment = client.get(_url(lab, f"{run.number}/progress/"), headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section id="progress"') and "<html" not in fragment
    assert 'hx-trigger="evolab:run.progress from:body, evolab:run.status from:body"' in fragment
    assert "ETA" not in fragment  # only while active


@pytest.mark.django_db(transaction=True)
def test_results_filter_by_outcome_tag_and_key(lab: Lab) -> None:
    answers = targets(lab)
    keys = sorted(answers)
    outputs = {(key, 0): answers[key] if i % 2 == 0 else "wrong" for i, key in enumerate(keys[:11])}
    run = drain(start(lab, backend=None, outputs=outputs))  # keys[11] has no output: errored
    client = lab.team.client_for("viewer")

    def shown(query: str) -> set[str]:
        body = client.get(_url(lab, f"{run.number}/?{query}"), headers={"HX-Request": "true"}).content.decode()
        assert body.lstrip().startswith('<section id="results"')
        return {key for key in keys if f">{key}</td>" in body}

    failed = set(CaseResult.objects.filter(run=run, passed=False).values_list("case__key", flat=True))
    assert failed and shown("filter=failed") == failed
    assert shown("filter=errored") == {keys[11]}
    assert shown("") == set(keys)
    topic = CaseResult.objects.filter(run=run, case__key=keys[0]).values_list("case__tags", flat=True)[0][0]
    tagged = {
        key for key, tags in CaseResult.objects.filter(run=run).values_list("case__key", "case__tags") if topic in tags
    }
    assert tagged and shown(f"tag={topic}") == tagged
    assert shown(f"q={keys[3]}") == {keys[3]}
    body = client.get(_url(lab, f"{run.number}/?sort=score")).content.decode()
    assert body.index(keys[11]) < body.index(keys[0])  # no score sorts first, then worst


@pytest.mark.django_db
def test_the_result_page_renders_the_transcript_inert_with_reasoning_folded(lab: Lab) -> None:
    run = start(lab, backend=None, outputs={(key, 0): "x" for key in targets(lab)})
    result = run.results.order_by("pk").first()
    assert result is not None
    hostile = '<script>alert(1)</script> <a hx-get="/evil" href="javascript:alert(2)">x</a> \u202egnp.exe \x1b[31m'
    CaseResult.objects.filter(pk=result.pk).update(
        status=ResultStatus.DONE,
        score=0.0,
        passed=False,
        output=hostile,
        transcript=[
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "What is 2 + 2?"},
            {
                "role": "assistant",
                "content": "<think>the user wants arithmetic</think>",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
            {"role": "assistant", "content": f"<think>{hostile}</think>{hostile}", "reasoning_content": "planned"},
        ],
        tool_calls=[
            {
                "call_id": "c1",
                "name": "calculator",
                "arguments": {"expression": "2+2"},
                "result": "4",
                "duration_s": 0.01,
            }
        ],
        grade_details={"expected": "4", "got": hostile},
        attempts=[{"number": 1, "request_id": "req-1", "status_code": 200, "error": None, "duration_s": 0.2}],
    )
    response = lab.team.client_for("viewer").get(_url(lab, f"{run.number}/results/{result.pk}/"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert 'hx-get="/evil"' not in body and 'href="javascript:' not in body
    assert "\u202e" not in body and "U+202E" in body and "\x1b" not in body and "\u241b" in body
    assert '<details class="reasoning"><summary>reasoning' in body and "<details open" not in body
    assert "the user wants arithmetic" in body and "planned" in body
    assert "→ calculator" in body and "{&quot;expression&quot;: &quot;2+2&quot;}" in body
    assert "req-1" in body and "Grader details" in body


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reviewer", "viewer"])
def test_holdout_results_are_sealed_below_maintainer(lab: Lab, persona: str) -> None:
    run = sealed_run(lab)
    client = lab.team.client_for(persona)
    pages = [_url(lab, f"{run.number}/"), _url(lab, f"{run.number}/?q=hold"), _url(lab, f"{run.number}/progress/")]
    pages += [_url(lab, f"{run.number}/results/{pk}/") for pk in run.results.values_list("pk", flat=True)]
    pages.append(f"/api/v1/projects/{lab.team.project.slug}/runs/{run.number}/results")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert not any(secret in response.content for secret in SECRETS), url
    held = run.results.filter(case__split="holdout").first()
    assert held is not None
    page = client.get(_url(lab, f"{run.number}/results/{held.pk}/")).content
    assert b"Sealed holdout result" in page and b"hold-" in page
    # The open cases are shown in full.
    opened = run.results.filter(case__split="dev").first()
    assert opened is not None
    assert b"open question" in client.get(_url(lab, f"{run.number}/results/{opened.pk}/")).content


@pytest.mark.django_db
def test_maintainers_see_holdout_results(lab: Lab) -> None:
    run = sealed_run(lab)
    held = run.results.filter(case__split="holdout").first()
    assert held is not None
    page = lab.team.client_for("maintainer").get(_url(lab, f"{run.number}/results/{held.pk}/")).content
    assert all(secret in page for secret in SECRETS)


@pytest.mark.django_db
def test_cancel_and_resume_from_the_page(lab: Lab) -> None:
    run = start(lab, backend=None, outputs={(key, 0): "x" for key in targets(lab)})
    client = lab.team.client_for("maintainer")
    page = client.get(_url(lab, f"{run.number}/")).content.decode()
    assert f'action="{_url(lab, f"{run.number}/cancel/")}"' in page
    response = client.post(_url(lab, f"{run.number}/cancel/"), follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and b"cancelled" in response.content
    assert b"Resume</button>" in response.content
    again = client.post(_url(lab, f"{run.number}/cancel/"), follow=True)
    assert b"Only a queued or running run can be cancelled" in again.content
    client.post(_url(lab, f"{run.number}/resume/"))
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    bad = client.post(_url(lab, f"{run.number}/resume/"), {"cost_cap_usd": "NaN"}, follow=True)
    assert b"A cost cap is an amount above zero" in bad.content


@pytest.mark.django_db
def test_the_list_and_the_dashboard_show_runs_with_their_score(lab: Lab, client: Client) -> None:
    run = sealed_run(lab)
    viewer = lab.team.client_for("viewer")
    body = viewer.get(_url(lab)).content.decode()
    assert f">Run {run.number}</a>" in body and "sealed@v1" in body and "50.0% ±" in body
    assert "Start a run" not in body  # viewers cannot
    dashboard = viewer.get(f"/p/{lab.team.project.slug}/").content.decode()
    assert "Recent runs" in dashboard and f">Run {run.number}</a>" in dashboard
    assert f'href="{_url(lab)}">Runs</a>' in dashboard  # the nav link
