"""The review API: a proposal's review, votes, comments, merge and reject, the inbox and
path owners, in the project's one error format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from evolab.evolution.models import Campaign, Comment, PathOwner, Proposal
from evolab.evolution.review import comment_add, vote_cast
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessHead
from evolab.projects.models import Role
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import CHANGED_PATH, member, waiting
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(evo: Evo) -> Campaign:
    return evo.start()


@pytest.fixture
def proposal(campaign: Campaign) -> Proposal:
    return waiting(campaign)


def _url(evo: Evo, path: str) -> str:
    return f"/api/v1/projects/{evo.team.project.slug}/{path}"


def _post(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def test_the_review_shows_state_votes_and_comments(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=-1)
    comment_add(actor=evo.team.reviewer, proposal=proposal, text="why?", blocking=True)

    body = evo.team.client_for("viewer").get(_url(evo, f"proposals/{proposal.number}/review")).json()

    assert body["number"] == proposal.number and body["outcome"] == "needs_review" and body["merged_by"] is None
    state = body["state"]
    assert state["mergeable"] is False and state["approvals_needed"] == 1
    assert state["blockers"] == ["needs 1 approval, has 0", "1 open blocking comment"]
    assert [(v["voter"], v["value"], v["role"], v["stale"]) for v in state["votes"]] == [
        ("reviewer", -1, "reviewer", False)
    ]
    [comment] = body["comments"]
    assert comment["author"] == "reviewer" and comment["blocking"] is True and comment["resolution"] == ""


def test_the_review_reads_in_constant_queries(evo: Evo, proposal: Proposal) -> None:
    client = evo.team.client_for("viewer")
    url = _url(evo, f"proposals/{proposal.number}/review")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    comment_add(actor=evo.team.reviewer, proposal=proposal, text="one")
    few = count()
    for index in range(5):
        person = member(evo.team.project, f"extra{index}", Role.REVIEWER)
        vote_cast(actor=person, proposal=proposal, value=1)
        comment = comment_add(actor=person, proposal=proposal, text="more", blocking=True)
        comment_add(actor=evo.team.reviewer, proposal=proposal, text="reply", parent=comment)
    assert count() == few


def test_vote_then_merge(evo: Evo, proposal: Proposal) -> None:
    voted = _post(evo.team.client_for("reviewer"), _url(evo, f"proposals/{proposal.number}/votes"), {"value": 2})
    assert voted.status_code == 200 and voted.json()["state"]["mergeable"] is True

    merged = _post(evo.team.client_for("maintainer"), _url(evo, f"proposals/{proposal.number}/merge"))

    assert merged.status_code == 200, merged.content
    assert merged.json()["merged_by"] == "maintainer" and merged.json()["state"]["blockers"] == ["already merged"]
    assert HarnessHead.objects.get(project=evo.team.project).version_id == proposal.candidate_version_id


def test_a_refused_merge_is_409_with_its_blockers(evo: Evo, proposal: Proposal) -> None:
    response = _post(evo.team.client_for("maintainer"), _url(evo, f"proposals/{proposal.number}/merge"))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict" and body["details"] == {"blockers": ["needs 1 approval, has 0"]}


def test_a_stale_merge_is_409(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    moved = version_create(actor=evo.team.owner, project=evo.team.project, files={"system.md": "new\n"}, message="m")

    response = _post(evo.team.client_for("maintainer"), _url(evo, f"proposals/{proposal.number}/merge"))

    assert response.status_code == 409
    assert f"stale: head moved to v{moved.number} since this was proposed; rebase it" in response.json()["message"]


def test_an_invalid_vote_is_422(evo: Evo, proposal: Proposal) -> None:
    response = _post(evo.team.client_for("reviewer"), _url(evo, f"proposals/{proposal.number}/votes"), {"value": 5})
    assert response.status_code == 422 and response.json()["field"] == "value"


def test_comment_reply_and_resolve(evo: Evo, proposal: Proposal) -> None:
    client = evo.team.client_for("reviewer")
    url = _url(evo, f"proposals/{proposal.number}/comments")
    created = _post(
        client, url, {"text": "line 1?", "anchor": "line", "path": CHANGED_PATH, "line": 1, "blocking": True}
    )
    assert created.status_code == 201, created.content
    first = created.json()
    reply = _post(client, url, {"text": "also", "parent": first["id"]}).json()
    assert (reply["parent"], reply["anchor"], reply["path"], reply["line"]) == (first["id"], "line", CHANGED_PATH, 1)

    resolved = _post(client, f"{url}/{first['id']}/resolve", {"resolution": "dropped", "reason": "moot"})

    assert resolved.status_code == 200 and resolved.json()["resolution"] == "dropped"
    assert resolved.json()["resolved_by"] == "reviewer"


def test_a_bad_anchor_is_422_naming_the_field(evo: Evo, proposal: Proposal) -> None:
    response = _post(
        evo.team.client_for("reviewer"),
        _url(evo, f"proposals/{proposal.number}/comments"),
        {"text": "x", "anchor": "line", "path": "system.md", "line": 1},
    )
    assert response.status_code == 422 and response.json()["field"] == "path"


def test_someone_elses_comment_is_resolved_by_a_maintainer_only(evo: Evo, proposal: Proposal) -> None:
    comment = comment_add(actor=evo.team.maintainer, proposal=proposal, text="mine", blocking=True)
    url = _url(evo, f"proposals/{proposal.number}/comments/{comment.pk}/resolve")

    refused = _post(evo.team.client_for("reviewer"), url, {"resolution": "fixed"})

    assert refused.status_code == 403
    assert _post(evo.team.client_for("owner"), url, {"resolution": "fixed"}).status_code == 200


def test_a_comment_of_another_proposal_is_not_found(evo: Evo, campaign: Campaign, proposal: Proposal) -> None:
    other = waiting(campaign, text="Other.\n")
    comment = comment_add(actor=evo.team.reviewer, proposal=other, text="there")
    url = _url(evo, f"proposals/{proposal.number}/comments/{comment.pk}/resolve")
    assert _post(evo.team.client_for("owner"), url, {"resolution": "fixed"}).status_code == 404


def test_reject(evo: Evo, proposal: Proposal) -> None:
    url = _url(evo, f"proposals/{proposal.number}/reject")
    response = _post(evo.team.client_for("maintainer"), url, {"reason": "too broad"})
    assert response.status_code == 200
    assert response.json()["closed_reason"] == "too broad"
    assert response.json()["state"]["blockers"] == ["rejected by maintainer: too broad"]
    assert _post(evo.team.client_for("maintainer"), url, {"reason": "again"}).status_code == 409


@pytest.mark.parametrize(
    ("persona", "status"), [("viewer", 403), ("outsider", 404), ("anonymous", 401), ("foreign_owner", 404)]
)
@pytest.mark.parametrize(
    ("path", "data"), [("votes", {"value": 2}), ("comments", {"text": "x"}), ("merge", {}), ("reject", {"reason": "x"})]
)
def test_only_members_with_the_role_review(
    evo: Evo, proposal: Proposal, persona: str, status: int, path: str, data: dict[str, Any]
) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    if persona == "foreign_owner":  # an owner of another project, a stranger to this one
        client = Client()
        client.force_login(member(ProjectFactory(), "foreign", Role.OWNER))
    else:
        client = evo.team.client_for(persona)

    response = _post(client, _url(evo, f"proposals/{proposal.number}/{path}"), data)

    assert response.status_code == status
    proposal.refresh_from_db()
    assert proposal.merged_at is None and proposal.closed_at is None
    assert not Comment.objects.exists() and proposal.votes.count() == 1


def test_the_inbox_puts_my_reviews_first(evo: Evo, campaign: Campaign) -> None:
    mine = waiting(campaign, assignee=evo.team.reviewer)
    others = waiting(campaign, text="b\n", assignee=evo.team.maintainer)
    newest = waiting(campaign, text="c\n")
    waiting(campaign, text="d\n", merged_at="2024-01-01T00:00:00Z")

    body = evo.team.client_for("reviewer").get(_url(evo, "inbox")).json()

    assert [item["number"] for item in body["items"]] == [mine.number, newest.number, others.number]
    assert body["items"][0]["assigned_to_me"] is True and body["items"][0]["assignee"] == "reviewer"
    assert body["items"][1]["assigned_to_me"] is False
    assert evo.team.client_for("reviewer").get(_url(evo, "inbox?campaign=99")).status_code == 404


def test_path_owners(evo: Evo) -> None:
    client = evo.team.client_for("owner")
    created = _post(client, _url(evo, "path-owners"), {"pattern": "./Skills/", "user": "reviewer"})
    assert created.status_code == 201 and created.json()["pattern"] == "skills"
    listed = evo.team.client_for("viewer").get(_url(evo, "path-owners")).json()
    assert listed == [{"id": created.json()["id"], "pattern": "skills", "user": "reviewer"}]

    bad = _post(client, _url(evo, "path-owners"), {"pattern": "../x", "user": "reviewer"})
    assert bad.status_code == 422 and bad.json()["field"] == "pattern"
    not_reviewer = _post(client, _url(evo, "path-owners"), {"pattern": "x.md", "user": "viewer"})
    assert not_reviewer.status_code == 422 and not_reviewer.json()["field"] == "user"
    stranger = _post(client, _url(evo, "path-owners"), {"pattern": "x.md", "user": "outsider"})
    assert stranger.status_code == 422 and stranger.json()["field"] == "user"

    deleted = client.delete(_url(evo, f"path-owners/{created.json()['id']}"))
    assert deleted.status_code == 204 and not PathOwner.objects.exists()
