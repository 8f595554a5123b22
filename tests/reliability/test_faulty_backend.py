"""A backend that rate-limits, fails, hangs and cuts streams: every result still ends
scored or errored, never from a partial answer, and every attempt is on record."""

from __future__ import annotations

from collections import Counter

import pytest

from evolab.backends.simulator.faults import FaultConfig
from evolab.runs.models import BackendSlotLease, CaseResult, ResultStatus, RunStatus
from tests.reliability.conftest import Lab, Workers, episode_keys, requests_by_result, run_status

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]

FAULTS = FaultConfig(
    rates=(("429", 0.12), ("500", 0.12), ("hang", 0.08), ("drop", 0.12), ("truncate", 0.12)),
    hang_s=10.0,
    retry_after_s=0.2,
)


def _kind(attempt: dict[str, object]) -> str:
    """Which injected fault an attempt met, read from what the client recorded."""
    error = str(attempt["error"] or "")
    if not error:
        return "ok"
    if attempt["status_code"] in (429, 500):
        return str(attempt["status_code"])
    if error.startswith("timed out"):
        return "hang"
    return "cut"  # a dropped connection or a stream that ended without finishing


def test_every_result_ends_scored_or_errored_and_never_from_a_cut_stream(lab: Lab, workers: Workers) -> None:
    lab.backend.timeout_s = 2.0  # an injected hang lasts 10 s
    lab.backend.stream = True
    lab.backend.save()
    lab.simulator.configure(faults=FAULTS)
    run = lab.create_run(samples=1)
    keys = episode_keys(run)
    workers.start()
    workers.drive(lambda: run_status(run) == RunStatus.COMPLETED, "the run to complete")
    # Every task gives its slots back (one still ending may hold them a moment longer).
    workers.drive(lambda: not BackendSlotLease.objects.exists(), "every task to give its backend slots back")

    results = list(CaseResult.objects.filter(run=run))
    assert len(results) == 24
    assert {r.status for r in results} <= {ResultStatus.DONE, ResultStatus.ERROR}
    state = lab.simulator.state
    for r in results:
        assert r.attempts, f"{r.pk}: no attempt on record"
        if r.status == ResultStatus.DONE:
            # Every answer in the transcript is one the simulator generated whole.
            answers = [m for m in r.transcript if m.get("role") == "assistant"]
            assert answers and all(state.issued(m) for m in answers), r.pk
            assert sum(1 for a in r.attempts if not a["error"]) == len(answers)
        else:
            # The turn that failed used up its retries: attempts 1..n, each with its error
            # (and the HTTP status where there was one).
            assert r.episode_status == "error", r.pk
            tries = r.attempts[-1]["number"]
            assert [a["number"] for a in r.attempts[-tries:]] == list(range(1, tries + 1)), r.pk
            assert all(a["error"] for a in r.attempts[-tries:]), r.pk
            assert f"{tries} attempts failed" in r.error, r.error
    assert state.stats()["history_unrecognised"] == 0

    # Each request is one attempt of one result (nothing was killed, so nothing is
    # unaccounted for), and each injected fault is the failure its attempt records —
    # except that any answer slower than timeout_s (on a loaded machine) is recorded as a
    # timeout, whatever it was going to be. Above all, no cut answer counts as a success.
    records = state.requests()
    made = requests_by_result(keys, records)
    assert all(made[r.pk] == len(r.attempts) for r in results)
    injected = Counter("cut" if rec.fault in ("drop", "truncate") else rec.fault or "ok" for rec in records)
    recorded = Counter(_kind(a) for r in results for a in r.attempts)
    assert recorded.total() == injected.total()
    assert set(recorded - injected) <= {"hang"}, (recorded, injected)
    assert all(injected[kind] > 0 for kind in ("429", "500", "hang", "cut"))
    assert state.stats()["faults_injected"].keys() == {"429", "500", "hang", "drop", "truncate"}
