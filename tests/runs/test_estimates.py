"""The estimate shown before a run starts: rendered prompt lengths, sampled for big runs."""

from __future__ import annotations

import pytest

from evolab.core.errors import ValidationFailed
from evolab.harnesses.actions import version_create
from evolab.runs import selectors
from evolab.runs.selectors import prompt_lengths, spec_estimate
from tests.runs.conftest import Lab
from tests.runs.helpers import spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _prices_from_the_database(lab: Lab) -> None:
    lab.backend.refresh_from_db()  # the factory left float prices; the database gives Decimals


def test_it_renders_every_case_and_scales_with_samples(lab: Lab) -> None:
    lengths, total = prompt_lengths(spec(lab))
    assert total == len(lengths) == 12 and min(lengths) > 100  # the system prompt is in every one
    one, three = spec_estimate(spec(lab)), spec_estimate(spec(lab, samples=3))
    assert one.requests == 12 and three.requests == 36
    assert one.input_tokens == sum(lengths) // 4 and three.input_tokens == 3 * sum(lengths) // 4
    assert one.usd > 0 and "no earlier results" in one.basis


def test_big_runs_render_an_evenly_spaced_sample(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    lengths, total = prompt_lengths(spec(lab), sample_size=4)
    assert total == 12 and len(lengths) == 4
    monkeypatch.setattr(selectors, "ESTIMATE_SAMPLE_SIZE", 4)
    estimate = spec_estimate(spec(lab))
    assert estimate.requests == 12 and estimate.basis.endswith("; prompt lengths from 4 of 12 cases")


def test_a_harness_that_does_not_render_is_named(lab: Lab) -> None:
    broken = version_create(
        actor=lab.team.owner,
        project=lab.team.project,
        files={**lab.harness.files, "system.md": "Hello {{ no_such_name }}"},
        message="broken",
    )
    with pytest.raises(ValidationFailed) as error:
        spec_estimate(spec(lab, harness_version=broken))
    assert error.value.field == "harness" and "system.md" in error.value.message
