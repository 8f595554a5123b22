"""The lineage page: nodes, edges and styles match the database; queries stay constant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evolab.charts.benchmark_lineage import FILES, bare_campaign, lineage_history
from evolab.charts.lineage import Fate, project_lineage
from evolab.evolution.actions import proposal_merge
from evolab.evolution.models import Outcome, Proposal, ProposalStage, ProposerKind
from evolab.evolution.rebase import proposal_revert
from evolab.harnesses.actions import head_move, version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Project, Role
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

URL = "/p/{slug}/lineage/"


def _proposal(
    project: Project, campaign: Any, base: HarnessVersion, candidate: HarnessVersion, **fields: Any
) -> Proposal:
    return Proposal.objects.create(
        project=project,
        number=Proposal.objects.filter(project=project).count() + 1,
        campaign=campaign,
        kind=ProposerKind.REFLECT,
        stage=ProposalStage.CLASSIFIED,
        base_version=base,
        candidate_version=candidate,
        **fields,
    )


@pytest.fixture
def history(team: Team) -> dict[str, Any]:
    """v1 first; v2 merged by proposal #1; v3 auto-rejected (#2); v4 a side branch off v2
    merged back by v5 (two parents); v6 reverts #1 and is head; v7 an open proposal (#3)."""
    project, owner = team.project, team.owner
    assert isinstance(owner, User)
    v1 = version_create(actor=owner, project=project, files=FILES, message="first harness")
    campaign = bare_campaign(project, owner, v1)
    v2_files = {**FILES, "system.md": "You are a support agent. Be brief.\n"}
    v2 = version_create(
        actor=None, project=project, files=v2_files, message="brief", parents=[v1], move_head=False, author_label="M2.7"
    )
    merged = _proposal(project, campaign, v1, v2, outcome=Outcome.NEEDS_REVIEW, merged_at=timezone.now())
    head_move(actor=owner, project=project, expected=v1, new=v2)
    v3 = version_create(
        actor=None, project=project, files={**v2_files, "x.md": "x\n"}, message="x", parents=[v2], move_head=False
    )
    _proposal(project, campaign, v2, v3, outcome=Outcome.AUTO_REJECT)
    v4_files = {**v2_files, "workflow.md": "1. Read.\n2. Look up.\n3. Answer.\n"}
    v4 = version_create(
        actor=owner, project=project, files=v4_files, message="<b>side</b>\nmore", parents=[v2], move_head=False
    )
    v5 = version_create(
        actor=owner, project=project, files=v4_files | {"y.md": "y\n"}, message="merge", parents=[v2, v4]
    )
    v6 = proposal_revert(actor=owner, proposal=merged, reason="too terse")
    v7 = version_create(
        actor=None, project=project, files={**v6.files, "z.md": "z\n"}, message="z", parents=[v6], move_head=False
    )
    _proposal(project, campaign, v6, v7, outcome=Outcome.NEEDS_REVIEW)
    return {"project": project, "versions": [v1, v2, v3, v4, v5, v6, v7]}


def test_nodes_edges_and_fates_match_the_database(history: dict[str, Any]) -> None:
    lineage = project_lineage(history["project"])
    fates = {node.number: node.fate for node in lineage.nodes}
    assert fates == {
        1: Fate.MERGED,
        2: Fate.MERGED,
        3: Fate.REJECTED,
        4: Fate.UNMERGED,
        5: Fate.MERGED,
        6: Fate.REVERT,
        7: Fate.PENDING,
    }
    assert set(lineage.edges) == {(1, 2, 0), (2, 3, 0), (2, 4, 0), (2, 5, 0), (4, 5, 1), (5, 6, 0), (6, 7, 0)}
    assert [node.number for node in lineage.nodes if node.is_head] == [6]
    lanes = {node.number: node.lane for node in lineage.nodes}
    # The line head followed is lane 0; the side branch and the candidates share a side
    # lane, each taking it once the version before it there has no children left.
    assert lanes == {1: 0, 2: 0, 3: 1, 4: 1, 5: 0, 6: 0, 7: 1}
    assert lineage.lanes == 2
    by_number = {node.number: node for node in lineage.nodes}
    slug = history["project"].slug
    assert by_number[2].url == f"/p/{slug}/proposals/1/"
    assert by_number[4].url == f"/p/{slug}/harness/v/4/"
    assert by_number[5].parents == (2, 4)


def test_a_version_merged_by_a_proposal_stays_merged_when_a_later_proposal_reuses_it(team: Team) -> None:
    """Head moves recorded in `proposal.merge` (no `harness.head` beside it any more) mark
    a version as merged even when its latest proposal was closed unmerged."""
    project, owner = team.project, team.owner
    assert isinstance(owner, User)
    v1 = version_create(actor=owner, project=project, files=FILES, message="first harness")
    campaign = bare_campaign(project, owner, v1)
    v2 = version_create(
        actor=None, project=project, files={**FILES, "x.md": "x\n"}, message="x", parents=[v1], move_head=False
    )
    first = _proposal(project, campaign, v1, v2, outcome=Outcome.AUTO_MERGE)
    proposal_merge(actor=None, proposal=first)
    _proposal(project, campaign, v1, v2, outcome=Outcome.NEEDS_REVIEW, closed_at=timezone.now())

    fates = {node.number: node.fate for node in project_lineage(project).nodes}
    assert fates == {1: Fate.MERGED, 2: Fate.MERGED}


def test_the_figure_draws_every_node_once_with_its_style(history: dict[str, Any]) -> None:
    figure = json.loads(project_lineage(history["project"]).chart().figure_json)
    markers = {trace["name"]: trace for trace in figure["data"] if trace["mode"] == "markers"}
    assert sorted(x for trace in markers.values() for x in trace["x"]) == [1, 2, 3, 4, 5, 6, 7]
    assert markers["rejected candidate"]["x"] == [3]
    assert markers["rejected candidate"]["marker"]["symbol"] == "x"
    assert markers["revert"]["x"] == [6]
    assert markers["open proposal"]["customdata"] == [f"/p/{history['project'].slug}/proposals/3/"]
    head = next(trace for trace in figure["data"] if trace["name"] == "head")
    assert head["x"] == [6]
    merged_in = next(trace for trace in figure["data"] if trace["name"] == "merged-in parent")
    assert merged_in["x"] == [4, 5, None]
    # What people wrote stays inert in the hover text.
    assert "&lt;b&gt;side&lt;/b&gt;" in markers["never head"]["text"][0]


def test_the_page_shows_the_chart_and_the_table(team: Team, history: dict[str, Any]) -> None:
    response = team.client_for("viewer").get(URL.format(slug=team.project.slug))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="plotly-chart"' in body
    assert "Revert proposal #1: too terse" in body
    assert "&lt;b&gt;side&lt;/b&gt;" in body and "<b>side</b>" not in body


def test_an_empty_project_teaches_the_first_step(team: Team) -> None:
    response = team.client_for("viewer").get(URL.format(slug=team.project.slug))
    assert response.status_code == 200
    assert "Commit a first harness" in response.content.decode()


@pytest.mark.parametrize("persona", ["owner", "maintainer", "reviewer", "viewer"])
def test_members_see_it(team: Team, persona: str) -> None:
    assert team.client_for(persona).get(URL.format(slug=team.project.slug)).status_code == 200


def test_outsiders_get_404(team: Team) -> None:
    assert team.client_for("outsider").get(URL.format(slug=team.project.slug)).status_code == 404


def _queries(versions: int) -> int:
    project = ProjectFactory(slug=f"lineage-{versions}")
    owner = UserFactory(username=f"owner-{versions}")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    lineage_history(project, owner, versions)
    client = Client()
    client.force_login(owner)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL.format(slug=project.slug)).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_query_count_does_not_grow_with_versions() -> None:
    assert _queries(5) == _queries(60)
