"""Who may reach each evolution page and API operation; `ENDPOINTS` is also checked
centrally (tests/test_permission_matrix.py) for coverage of every URL name and API route.

Starting a campaign here calls no model: its first step is enqueued on commit, which
never comes inside a test transaction."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.backends.simulator.testing import RunningSimulator
from evolab.evolution.assignment import path_owner_set
from evolab.evolution.review import comment_add
from evolab.projects.models import Role
from tests.conftest import Team
from tests.evolution.conftest import build_evo
from tests.evolution.review_helpers import waiting
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

# The campaign, proposal, comment and path owner are built once for the module
# (`context`, see `module_transaction`); each test sends one request as one persona, and
# what that request changes is rolled back after the test.
pytestmark = pytest.mark.django_db

LIST = "/p/{slug}/campaigns"
PAGE = LIST + "/{number}"
API = "/api/v1/projects/{slug}/campaigns"
ROUTE = "/api/v1/projects/{slug}/campaigns"
START = {"name": "api", "suite": "demo", "runner_backend": "m27-sim", "proposer_backend": "m27-sim", "budget_rounds": 1}
FORM = {
    "name": "form",
    "base": "1",
    "suite_version": "demo@1",
    "feedback_split": "train",
    "selection_split": "dev",
    "guard_split": "holdout",
    "runner_backend": "m27-sim",
    "proposer": "reflect",
    "proposer_backend": "m27-sim",
    "candidates_per_round": "1",
    "samples": "1",
    "seed": "0",
    "budget_rounds": "1",
    "budget_usd": "1",
    "budget_tokens": "100000",
    "budget_minutes": "10",
    "plateau_rounds": "3",
    "action": "estimate",
}
POLICY_FORM = {
    "critical_tag": "critical",
    "max_cost_increase_pct": "20",
    "max_latency_increase_pct": "25",
    "max_diff_lines": "80",
    "min_effect": "0.02",
    "safe_ranges": "sampling.temperature: 0.1..1",
    "approvals_needed": "1",
    "approvals_needed_critical": "2",
    "approver_min_role": "reviewer",
}
HUMAN = {"path": "workflow.md", "text": "Answer in one sentence.\n", "hypothesis": "shorter answers"}

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", LIST + "/", Role.VIEWER, "evolution:list"),
    Endpoint("GET", LIST + "/new/", Role.MAINTAINER, "evolution:new"),
    Endpoint("POST", LIST + "/new/", Role.MAINTAINER, "evolution:new", data=FORM),
    Endpoint("GET", LIST + "/new/estimate/?name=x&base=1", Role.MAINTAINER, "evolution:estimate"),
    Endpoint("GET", PAGE + "/", Role.VIEWER, "evolution:campaign"),
    Endpoint("POST", PAGE + "/pause/", Role.MAINTAINER, "evolution:pause"),
    Endpoint("POST", PAGE + "/resume/", Role.MAINTAINER, "evolution:resume"),
    Endpoint("POST", PAGE + "/stop/", Role.MAINTAINER, "evolution:stop"),
    Endpoint("POST", PAGE + "/guidance/", Role.MAINTAINER, "evolution:guidance", data={"text": "new direction"}),
    Endpoint("POST", PAGE + "/proposals/new/", Role.MAINTAINER, "evolution:proposal_new", data=HUMAN),
    Endpoint("GET", "/p/{slug}/policy/", Role.VIEWER, "evolution:policy"),
    Endpoint("POST", "/p/{slug}/policy/", Role.OWNER, "evolution:policy", data=POLICY_FORM),
    Endpoint(
        "POST", "/p/{slug}/policy/path-owners/", Role.OWNER, "evolution:path_owners", data={"pattern": "skills/*"}
    ),
    Endpoint("POST", "/p/{slug}/policy/path-owners/{path_owner_id}/remove/", Role.OWNER, "evolution:path_owner_remove"),
    Endpoint("GET", "/p/{slug}/inbox/", Role.VIEWER, "evolution:project_inbox"),
    Endpoint("GET", "/p/{slug}/inbox/?campaign={number}", Role.VIEWER, "evolution:project_inbox"),
    Endpoint("GET", "/p/{slug}/merged/", Role.VIEWER, "evolution:history"),
    Endpoint("GET", API, Role.VIEWER, ROUTE, api=True),
    Endpoint("POST", API, Role.MAINTAINER, ROUTE, data=START, api=True),
    Endpoint("POST", API + "/estimate", Role.MAINTAINER, ROUTE + "/estimate", data=START, api=True),
    Endpoint("GET", API + "/{number}", Role.VIEWER, ROUTE + "/{number}", api=True),
    Endpoint("POST", API + "/{number}/pause", Role.MAINTAINER, ROUTE + "/{number}/pause", api=True),
    Endpoint("POST", API + "/{number}/resume", Role.MAINTAINER, ROUTE + "/{number}/resume", api=True),
    Endpoint("POST", API + "/{number}/stop", Role.MAINTAINER, ROUTE + "/{number}/stop", api=True),
    Endpoint("GET", API + "/{number}/guidance", Role.VIEWER, ROUTE + "/{number}/guidance", api=True),
    Endpoint(
        "POST", API + "/{number}/guidance", Role.MAINTAINER, ROUTE + "/{number}/guidance", data={"text": "x"}, api=True
    ),
    Endpoint("GET", API + "/{number}/proposals", Role.VIEWER, ROUTE + "/{number}/proposals", api=True),
    Endpoint("GET", "/api/v1/projects/{slug}/policy", Role.VIEWER, "/api/v1/projects/{slug}/policy", api=True),
    Endpoint(
        "PUT",
        "/api/v1/projects/{slug}/policy",
        Role.OWNER,
        "/api/v1/projects/{slug}/policy",
        data={"rules": {"allow_auto_merge": True}},
        api=True,
    ),
]

# Review: `review_number` is a proposal waiting for review, `comment_id` a comment on it
# by the reviewer, `path_owner_id` a path owner of the project.
REVIEW = "/api/v1/projects/{slug}/proposals/{review_number}"
REVIEW_ROUTE = "/api/v1/projects/{slug}/proposals/{number}"
REVIEW_ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", REVIEW + "/review", Role.VIEWER, REVIEW_ROUTE + "/review", api=True),
    Endpoint("POST", REVIEW + "/votes", Role.REVIEWER, REVIEW_ROUTE + "/votes", data={"value": 2}, api=True),
    Endpoint("POST", REVIEW + "/comments", Role.REVIEWER, REVIEW_ROUTE + "/comments", data={"text": "hm"}, api=True),
    Endpoint(
        "POST",
        REVIEW + "/comments/{comment_id}/resolve",
        Role.REVIEWER,
        REVIEW_ROUTE + "/comments/{comment_id}/resolve",
        data={"resolution": "fixed"},
        api=True,
    ),
    Endpoint("POST", REVIEW + "/merge", Role.MAINTAINER, REVIEW_ROUTE + "/merge", api=True),
    Endpoint("POST", REVIEW + "/reject", Role.MAINTAINER, REVIEW_ROUTE + "/reject", data={"reason": "no"}, api=True),
    Endpoint("GET", "/api/v1/projects/{slug}/inbox", Role.VIEWER, "/api/v1/projects/{slug}/inbox", api=True),
    Endpoint(
        "GET", "/api/v1/projects/{slug}/path-owners", Role.VIEWER, "/api/v1/projects/{slug}/path-owners", api=True
    ),
    Endpoint(
        "POST",
        "/api/v1/projects/{slug}/path-owners",
        Role.OWNER,
        "/api/v1/projects/{slug}/path-owners",
        data={"pattern": "skills/*", "user": "reviewer"},
        api=True,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/projects/{slug}/path-owners/{path_owner_id}",
        Role.OWNER,
        "/api/v1/projects/{slug}/path-owners/{owner_id}",
        api=True,
    ),
]
ENDPOINTS += REVIEW_ENDPOINTS

# Revisions and reverts (evolution.rebase), on the same waiting proposal. Revising is for
# maintainers and the proposal's author; this one has no author, so a reviewer gets 403.
REBASE_PAGE = "/p/{slug}/proposals/{review_number}/rebase/"
REVISION_ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", REBASE_PAGE, Role.MAINTAINER, "evolution:proposal_rebase"),
    Endpoint("POST", REBASE_PAGE, Role.MAINTAINER, "evolution:proposal_rebase", data={"head": "1"}),
    Endpoint("GET", REVIEW + "/rebase", Role.MAINTAINER, REVIEW_ROUTE + "/rebase", api=True),
    Endpoint("POST", REVIEW + "/rebase", Role.MAINTAINER, REVIEW_ROUTE + "/rebase", api=True),
    Endpoint(
        "POST",
        REVIEW + "/revise",
        Role.MAINTAINER,
        REVIEW_ROUTE + "/revise",
        data={"files": {"workflow.md": "x\n"}, "note": "n"},
        api=True,
    ),
    Endpoint(
        "POST",
        REVIEW + "/request-changes",
        Role.REVIEWER,
        REVIEW_ROUTE + "/request-changes",
        data={"summary": "more"},
        api=True,
    ),
    Endpoint("POST", REVIEW + "/revert", Role.MAINTAINER, REVIEW_ROUTE + "/revert", data={"reason": "r"}, api=True),
]
ENDPOINTS += REVISION_ENDPOINTS

# The proposal page (evolution.proposal_views) of the same waiting proposal; its htmx
# panels are checked per persona in test_proposal_page.py.
PROPOSAL_PAGE = "/p/{slug}/proposals/{review_number}/"
ENDPOINTS += [
    Endpoint("GET", PROPOSAL_PAGE, Role.VIEWER, "evolution:proposal"),
    Endpoint("GET", PROPOSAL_PAGE + "?view=split&regressions=1&sort=key&page=2", Role.VIEWER, "evolution:proposal"),
]

# The review panel's forms (evolution.review_views) on the same proposal; the comment to
# resolve is the reviewer's own. Revising: this proposal has no author (see above).
ENDPOINTS += [
    Endpoint("POST", PROPOSAL_PAGE + "vote/", Role.REVIEWER, "evolution:proposal_vote", data={"value": "2"}),
    Endpoint("POST", PROPOSAL_PAGE + "comments/", Role.REVIEWER, "evolution:proposal_comment", data={"text": "hm"}),
    Endpoint(
        "POST",
        PROPOSAL_PAGE + "comments/{comment_id}/resolve/",
        Role.REVIEWER,
        "evolution:proposal_comment_resolve",
        data={"resolution": "fixed"},
    ),
    Endpoint("POST", PROPOSAL_PAGE + "merge/", Role.MAINTAINER, "evolution:proposal_merge"),
    Endpoint("POST", PROPOSAL_PAGE + "reject/", Role.MAINTAINER, "evolution:proposal_reject", data={"reason": "no"}),
    Endpoint(
        "POST",
        PROPOSAL_PAGE + "request-changes/",
        Role.REVIEWER,
        "evolution:proposal_request_changes",
        data={"summary": "more"},
    ),
    Endpoint("POST", PROPOSAL_PAGE + "revert/", Role.MAINTAINER, "evolution:proposal_revert", data={"reason": "r"}),
    Endpoint("GET", PROPOSAL_PAGE + "revise/", Role.MAINTAINER, "evolution:proposal_revise"),
    Endpoint(
        "POST",
        PROPOSAL_PAGE + "revise/",
        Role.MAINTAINER,
        "evolution:proposal_revise",
        data={"path": "workflow.md", "text": "x\n", "note": "n"},
    ),
]


@pytest.fixture(scope="module")
def context(module_team: Team, simulator: RunningSimulator) -> dict[str, Any]:
    evo = build_evo(module_team, simulator)
    campaign = evo.start()
    proposal = waiting(campaign)
    comment = comment_add(actor=evo.team.reviewer, proposal=proposal, text="a question")
    owner = path_owner_set(actor=evo.team.owner, project=evo.team.project, pattern="system.md", user=evo.team.reviewer)
    return {
        "slug": evo.team.project.slug,
        "number": campaign.number,
        "review_number": proposal.number,
        "comment_id": comment.pk,
        "path_owner_id": owner.pk,
    }


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_access(module_team: Team, context: dict[str, Any], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, module_team.client_for(persona), context)
