"""What schema fuzzing found, pinned down so it cannot come back unnoticed."""

from __future__ import annotations

import pytest
from django.test import Client

from evolab.core.pagination import MAX_OFFSET
from evolab.projects.actions import token_create
from tests.conftest import Team

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["harness/versions", "suites", "runs", "audit"])
def test_an_offset_past_the_database_s_integers_is_invalid_input_not_a_500(team: Team, path: str) -> None:
    _, raw = token_create(user=team.owner, name="fuzz")
    url = f"/api/v1/projects/{team.project.slug}/{path}"
    client = Client()
    too_far = client.get(url, {"offset": 29277506974028120394754424832}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert too_far.status_code == 422
    assert too_far.json()["code"] == "invalid" and too_far.json()["field"] == "query.offset"
    at_the_bound = client.get(url, {"offset": MAX_OFFSET}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert at_the_bound.status_code == 200
