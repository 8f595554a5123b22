from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from evolab.evolution.models import Outcome
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import waiting

pytestmark = pytest.mark.django_db


def _url(evo: Evo) -> str:
    return f"/p/{evo.team.project.slug}/merged/"


def test_merged_changes_say_who_or_what_merged_them(evo: Evo) -> None:
    campaign = evo.start()
    by_policy = waiting(
        campaign,
        text="A\n",
        outcome=Outcome.AUTO_MERGE,
        reasons=[{"code": "gain_clear", "text": "The gain is clear: lower bound +0.050."}],
        merged_at=timezone.now(),
    )
    by_person = waiting(campaign, text="B\n", merged_at=timezone.now(), merged_by=evo.team.maintainer)
    waiting(campaign, text="C\n")  # still waiting: not in the history
    body = evo.team.client_for("viewer").get(_url(evo)).content.decode()
    assert f"#{by_policy.number}" in body and "merged by policy" in body and "The gain is clear" in body
    assert f"#{by_person.number}" in body and "merged by maintainer" in body
    assert body.count('href="/p/support-agent/proposals/') == 2


def test_holdout_numbers_stay_hidden_below_maintainer(evo: Evo) -> None:
    campaign = evo.start()
    waiting(
        campaign,
        merged_at=timezone.now(),
        merged_by=evo.team.maintainer,
        reasons=[{"code": "holdout_diverged", "text": "held-out guard did not (holdout delta -0.040)"}],
    )
    assert "-0.040" not in evo.team.client_for("reviewer").get(_url(evo)).content.decode()
    assert "-0.040" in evo.team.client_for("maintainer").get(_url(evo)).content.decode()


@pytest.mark.parametrize("merged", [2, 12])
def test_queries_do_not_grow_with_merges(evo: Evo, merged: int, django_assert_num_queries: Any) -> None:
    campaign = evo.start()
    for index in range(merged):
        waiting(campaign, text=f"{index}\n", merged_at=timezone.now(), merged_by=evo.team.maintainer)
    client = evo.team.client_for("viewer")
    client.get(_url(evo))  # warm the session
    with django_assert_num_queries(7):
        assert client.get(_url(evo)).status_code == 200
