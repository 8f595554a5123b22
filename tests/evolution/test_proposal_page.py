"""The proposal page and each of its panels: what viewers and maintainers see, the
sealed guard, the diff, the evidence filters, the transcript pair and the review slot."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from evolab.evolution import proposal_views
from evolab.evolution.benchmark import ProposalFixture, proposal_fixture
from evolab.evolution.models import Outcome, Proposal
from evolab.harnesses.actions import version_create
from evolab.projects.models import Role
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

PANELS = ("header", "scores", "diff", "evidence", "pair")


@pytest.fixture
def fx(team: Team) -> ProposalFixture:
    return proposal_fixture(project=team.project, actor=team.owner, cases=10, samples=3, guard_cases=6)


def url(fx: ProposalFixture, query: str = "") -> str:
    return f"/p/{fx.project.slug}/proposals/{fx.proposal.number}/" + (f"?{query}" if query else "")


def panel(client: Client, fx: ProposalFixture, query: str) -> str:
    response = client.get(url(fx, query), headers={"HX-Request": "true"})
    assert response.status_code == 200, response.status_code
    body = response.content.decode()
    assert "<html" not in body
    return body


def test_it_shows_the_proposal_to_a_viewer(team: Team, fx: ProposalFixture) -> None:
    response = team.client_for("viewer").get(url(fx))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Proposal #1" in body
    assert 'data-status="waiting"' in body and "waiting for review" in body
    assert "Add a refund-policy skill" in body
    assert "The change touches critical paths" in body
    assert f">v{fx.base.number}</a>" in body and f">v{fx.candidate.number}</a>" in body
    assert "round 1</a>" in body and "campaign 1 · spring tuning" in body
    assert "Focus on refunds." in body  # the guidance it saw
    assert "skills/refunds.md" in body and '<table class="diff unified">' in body
    assert body.count("data-case-row") == 10
    assert 'class="plotly-chart" data-figure="' in body
    assert "/static/js/vendor/plotly.min.js" in body and "/static/js/proposal.js" in body
    assert 'id="pair"' in body and "parent left, candidate right" not in body


def test_each_panel_renders_alone(team: Team, fx: ProposalFixture) -> None:
    for persona in ("viewer", "maintainer"):
        client = team.client_for(persona)
        assert panel(client, fx, "panel=header").lstrip().startswith('<section id="header"')
        assert panel(client, fx, "panel=scores").lstrip().startswith('<section id="scores"')
        assert panel(client, fx, "panel=diff").lstrip().startswith('<section id="diff"')
        assert panel(client, fx, "panel=evidence").lstrip().startswith('<section id="evidence"')
        assert "parent left, candidate right" in panel(client, fx, "panel=pair&case=dev-00003")


def test_the_response_varies_on_htmx(team: Team, fx: ProposalFixture) -> None:
    response = team.client_for("viewer").get(url(fx, "panel=scores"), headers={"HX-Request": "true"})
    assert "HX-Request" in response["Vary"]
    # Without htmx (a reload, a shared link) the same URL is the whole page.
    assert "<html" in team.client_for("viewer").get(url(fx, "panel=scores")).content.decode()


def test_a_maintainer_sees_the_guard(team: Team, fx: ProposalFixture) -> None:
    client = team.client_for("maintainer")
    scores = panel(client, fx, "panel=scores")
    assert "data-guard" in scores and "diverged" in scores
    guard = fx.proposal.stats["guard"]
    assert f"n={guard['n']}" in scores
    header = panel(client, fx, "panel=header")
    assert "holdout delta" in header
    evidence = panel(client, fx, "panel=evidence&split=holdout")
    assert "holdout-00001" in evidence and "dev-00001" not in evidence
    pair = panel(client, fx, "panel=pair&case=holdout-00002")
    assert "Customer question 2" in pair


@pytest.mark.parametrize("persona", ["viewer", "reviewer"])
def test_the_guard_stays_sealed_below_maintainer(team: Team, fx: ProposalFixture, persona: str) -> None:
    client = team.client_for(persona)
    guard = fx.proposal.stats["guard"]
    bodies = [client.get(url(fx)).content.decode(), client.get(url(fx, "split=holdout")).content.decode()]
    bodies += [panel(client, fx, f"panel={name}") for name in PANELS]
    bodies.append(panel(client, fx, "panel=evidence&split=holdout"))
    for body in bodies:
        assert "holdout-0" not in body
        assert "data-guard" not in body
        assert "holdout delta" not in body
        assert f"n={guard['n']} " not in body
        assert '<option value="holdout"' not in body
    assert "held-out guard" in bodies[0] and "▼ diverged" in bodies[0]
    hx = {"HX-Request": "true"}
    assert client.get(url(fx, "panel=pair&case=holdout-00002"), headers=hx).status_code == 404
    assert client.get(url(fx, "case=holdout-00002")).status_code == 404


def test_outsiders_and_other_projects_get_404(team: Team, fx: ProposalFixture) -> None:
    assert team.client_for("outsider").get(url(fx)).status_code == 404
    assert team.client_for("outsider").get(url(fx, "panel=evidence"), headers={"HX-Request": "true"}).status_code == 404
    other = ProjectFactory(slug="other")
    stranger = UserFactory(username="stranger")
    MembershipFactory(project=other, user=stranger, role=Role.OWNER)
    client = Client()
    client.force_login(stranger)
    assert client.get(url(fx)).status_code == 404
    assert client.get(f"/p/other/proposals/{fx.proposal.number}/").status_code == 404
    anonymous = Client().get(url(fx))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_an_unknown_proposal_is_404(team: Team, fx: ProposalFixture) -> None:
    assert team.client_for("viewer").get(f"/p/{fx.project.slug}/proposals/999/").status_code == 404


def status_of(team: Team, fx: ProposalFixture) -> str:
    body = panel(team.client_for("viewer"), fx, "panel=header")
    match = re.search(r'data-status="([a-z_]+)">([^<]*)<', body)
    assert match is not None
    return f"{match.group(1)}: {match.group(2)}"


def test_status_follows_the_proposal(team: Team, fx: ProposalFixture) -> None:
    proposal = fx.proposal
    assert status_of(team, fx) == "waiting: waiting for review"
    version_create(actor=team.owner, project=team.project, files={"system.md": "moved on\n"}, message="head moves")
    assert status_of(team, fx).startswith("stale: stale: head moved to v")
    Proposal.objects.filter(pk=proposal.pk).update(outcome=Outcome.AUTO_REJECT)
    assert status_of(team, fx) == "auto_rejected: auto-rejected"
    Proposal.objects.filter(pk=proposal.pk).update(
        closed_at=timezone.now(), closed_by=team.reviewer, closed_reason="no"
    )
    assert status_of(team, fx) == "rejected: rejected by reviewer: no"
    Proposal.objects.filter(pk=proposal.pk).update(merged_at=timezone.now() + timedelta(seconds=1))
    assert status_of(team, fx) == "merged: merged by policy"
    Proposal.objects.filter(pk=proposal.pk).update(merged_by=team.maintainer)
    assert status_of(team, fx) == "merged: merged by maintainer"


def test_revisions_link_to_each_other(team: Team, fx: ProposalFixture) -> None:
    first = fx.proposal
    second = Proposal.objects.get(pk=first.pk)
    second.pk = None
    second.number, second.index, second.revision, second.revision_of = 2, 1, 2, first
    second.save()
    body = panel(team.client_for("viewer"), fx, "panel=header")
    assert f'href="/p/{fx.project.slug}/proposals/2/">#2 (rev. 2)</a>' in body
    assert '<strong aria-current="page">#1 (rev. 1)</strong>' in body


def test_the_diff_is_highlighted_anchored_and_toggles(team: Team, fx: ProposalFixture) -> None:
    client = team.client_for("viewer")
    body = panel(client, fx, "panel=diff")
    assert 'id="L-skills/refunds.md-1"' in body
    assert '<span class="hl-heading"># Refunds</span>' in body
    assert '<span class="hl-key">temperature</span>: 0.7' in body
    assert '<span class="hl-comment"># sampling for the support agent</span>' in body
    assert '<span class="hl-marker">-</span> Refunds within 30 days.' in body
    assert "sampling.temperature" in body and "✓ honoured" in body and "✓ inside" in body
    split = panel(client, fx, "panel=diff&view=split")
    assert '<table class="diff split">' in split and 'aria-current="true">side by side</a>' in split


def test_a_parameter_outside_its_safe_range_says_so(team: Team, fx: ProposalFixture) -> None:
    Proposal.objects.filter(pk=fx.proposal.pk).update(
        param_changes={"sampling.temperature": [1.0, 1.7], "sampling.top_p": [0.95, 0.9], "agent.max_turns": [6, 8]}
    )
    body = panel(team.client_for("viewer"), fx, "panel=diff")
    assert "✗ outside" in body and "? not probed" in body and "applied by evolab" in body


def test_evidence_filters_sorts_and_pages(team: Team) -> None:
    fx = proposal_fixture(project=team.project, actor=team.owner, cases=60, samples=2, guard_cases=2)
    client = team.client_for("viewer")
    first = panel(client, fx, "panel=evidence")
    assert first.count("data-case-row") == 50 and "Page 1 of 2" in first
    assert panel(client, fx, "panel=evidence&page=2").count("data-case-row") == 10
    regressions = panel(client, fx, "panel=evidence&regressions=1")
    assert 'class="result-' in regressions
    assert "result-win" not in regressions and "result-tie" not in regressions
    deltas = [float(d) for d in re.findall(r'delta-(?:up|down|noise)">([+-]\d+\.\d+)', first)]
    assert deltas == sorted(deltas)
    best_first = [
        float(d)
        for d in re.findall(r'delta-(?:up|down|noise)">([+-]\d+\.\d+)', panel(client, fx, "panel=evidence&sort=-delta"))
    ]
    assert best_first == sorted(best_first, reverse=True)
    keys = re.findall(r'<td class="mono">(dev-\d+)</td>', panel(client, fx, "panel=evidence&sort=key"))
    assert keys == sorted(keys) and keys[0] == "dev-00000"
    critical = panel(client, fx, "panel=evidence&tag=critical&sort=key")
    assert critical.count("data-case-row") == 9  # cases 0, 7, …, 56
    assert '<span class="badge critical">critical</span>' in critical


def test_the_transcript_pair_shows_both_sides(team: Team, fx: ProposalFixture) -> None:
    client = team.client_for("viewer")
    body = panel(client, fx, "panel=pair&case=dev-00004&sample=2")
    assert body.count('class="card transcript side-') == 2
    assert 'aria-current="true">3</a>' in body  # samples are shown from 1
    assert '<details class="reasoning">' in body and '<details class="reasoning" open' not in body
    assert "Which policy applies?" in body and "→ lookup" in body
    assert "Customer question 4" in body and "&quot;expected&quot;: &quot;30 days&quot;" in body
    assert f"run {fx.parent_run.number}</a>" in body and f"run {fx.candidate_run.number}</a>" in body
    assert panel(client, fx, "panel=pair&case=dev-00004&sample=9").count('class="card transcript side-') == 2
    hx = {"HX-Request": "true"}
    assert client.get(url(fx, "panel=pair&case=nope"), headers=hx).status_code == 404
    page = client.get(url(fx, "case=dev-00004")).content.decode()
    assert "parent left, candidate right" in page and "data-case-row" in page


def test_the_review_slot_is_absent_without_its_template(
    team: Team, fx: ProposalFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proposal_views, "REVIEW_TEMPLATE", "evolution/no-such-review.html")
    client = team.client_for("reviewer")
    assert 'id="review-panel"' not in client.get(url(fx)).content.decode()
    assert client.get(url(fx, "panel=review"), headers={"HX-Request": "true"}).status_code == 404


def test_the_review_slot_renders_its_template(team: Team, fx: ProposalFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # Any existing template stands in for evolution/proposal_review.html, built elsewhere.
    monkeypatch.setattr(proposal_views, "REVIEW_TEMPLATE", "harnesses/_diff_files.html")
    client = team.client_for("reviewer")
    assert '<section id="review-panel"' in client.get(url(fx)).content.decode()
    assert panel(client, fx, "panel=review").lstrip().startswith('<section id="review-panel"')


def test_a_proposal_that_never_applied_still_renders(team: Team, fx: ProposalFixture) -> None:
    Proposal.objects.filter(pk=fx.proposal.pk).update(
        candidate_version=None, candidate_run=None, guard_run=None, stats={}, param_changes={}, apply_error="no match"
    )
    client = team.client_for("maintainer")
    body = client.get(url(fx)).content.decode()
    assert "nothing to compare" in body and "No statistics yet" in body and "No per-case results yet" in body
    for name in PANELS:
        panel(client, fx, f"panel={name}")


def test_highlighting_splits_lines_without_changing_them() -> None:
    from evolab.harnesses.highlight import highlight_line

    cases = {
        ("  temperature: 0.7  # cooler", "yaml"): [
            (None, "  "),
            ("key", "temperature"),
            (None, ": 0.7  "),
            ("comment", "# cooler"),
        ],
        ('name: "a # not a comment"', "yaml"): [("key", "name"), (None, ': "a # not a comment"')],
        ("- item: 1", "yaml"): [("marker", "-"), (None, " "), ("key", "item"), (None, ": 1")],
        ("## Refunds", "markdown"): [("heading", "## Refunds")],
        ("  1. first", "markdown"): [(None, "  "), ("marker", "1."), (None, " first")],
        ("#hashtag, not a heading", "markdown"): [(None, "#hashtag, not a heading")],
        ("<b>x</b>", None): [(None, "<b>x</b>")],
    }
    for (line, language), expected in cases.items():
        segments = highlight_line(line, language)
        assert segments == expected, line
        assert "".join(text for _, text in segments) == line


def test_plotly_js_is_served_from_the_installed_package() -> None:
    from django.contrib.staticfiles import finders

    from evolab.core.staticfiles import PLOTLY_JS, plotly_js_source

    assert finders.find(PLOTLY_JS) == str(plotly_js_source())
    assert plotly_js_source().stat().st_size > 1_000_000
