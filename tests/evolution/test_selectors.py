"""The campaign list's spend agrees with the loop's own budget arithmetic."""

from __future__ import annotations

import pytest

from evolab.evolution.budget import campaign_spend
from evolab.evolution.selectors import campaign_rows, campaign_timeline, points_text, tone_of
from tests.evolution.conftest import Evo, drive
from tests.evolution.helpers import comparison


@pytest.mark.django_db(transaction=True)
def test_rows_and_timeline_of_a_driven_campaign(evo: Evo) -> None:
    campaign = drive(evo.start(budget_rounds=1, candidates_per_round=1, samples=1))
    other = evo.start(name="untouched")
    row, empty = campaign_rows([campaign, other])
    spend = campaign_spend(campaign)
    assert row.spend.usd == pytest.approx(spend.usd) and row.spend.tokens == spend.tokens > 0
    assert row.spend.rounds_done == spend.rounds_done == 1
    assert empty.spend.tokens == 0 and empty.best_delta is None
    timeline = campaign_timeline(campaign)
    (first,) = timeline.rounds
    assert first.parent_score is not None and 0 <= first.parent_score.low <= first.parent_score.high <= 1
    assert len(first.proposals) >= 1 and not timeline.queued


def test_delta_text_and_tone() -> None:
    assert points_text(comparison(0.08)) == "+8.0 pts [+5.0, +11.0]"
    assert points_text(None) == "—"
    assert [tone_of(comparison(d)) for d in (0.08, 0.0, -0.08)] == ["up", "noise", "down"]
