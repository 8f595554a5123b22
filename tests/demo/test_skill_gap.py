"""The demo is meaningful: through the real chain (render the harness, run the agent
loop against the simulator over HTTP, grade) the initial demo harness scores clearly
below a harness that carries the guidance it lacks, and repeated samples differ."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from evolab.backends.client import BackendClient
from evolab.backends.simulator.testing import running_simulator
from evolab.demo import demo_harness_files, demo_suite_rows, with_guidance
from evolab.engine.agent_loop import run_episode
from evolab.engine.graders import grade_async
from evolab.engine.harness_config import parse_harness_config
from evolab.engine.rendering import render_messages
from evolab.engine.tools import ToolBox
from evolab.evals.importing import grading_case

ROWS = [row for row in demo_suite_rows() if row["split"] != "holdout"]


async def _scores(client: BackendClient, files: dict[str, str], seed: int) -> list[float]:
    base = parse_harness_config(files["harness.yaml"])
    limit = asyncio.Semaphore(16)

    async def one(row: dict[str, object]) -> float:
        case = grading_case(str(row["key"]), row["input"], str(row["target"]), row["metadata"])  # type: ignore[arg-type]
        config = replace(base, sampling=replace(base.sampling, seed=seed))
        messages = render_messages(files, case, config)
        async with limit:
            episode = await run_episode(client, messages, config, ToolBox.for_case(config.agent.tools, case=case))
        grade = await grade_async(row["grader"], output=episode.output, case=case)  # type: ignore[arg-type]
        return grade.score

    return list(await asyncio.gather(*(one(row) for row in ROWS)))


@pytest.mark.asyncio
async def test_the_missing_guidance_moves_the_score_and_samples_vary() -> None:
    initial, improved = demo_harness_files(), with_guidance(demo_harness_files())
    with running_simulator(profile="minimax-m2.7") as sim:
        async with BackendClient(sim.backend_config()) as client:
            runs = {
                name: [await _scores(client, files, seed) for seed in (1, 2, 3)]
                for name, files in (("initial", initial), ("improved", improved))
            }
    mean = {name: sum(map(sum, scores)) / sum(map(len, scores)) for name, scores in runs.items()}
    assert mean["initial"] < 0.6 < 0.8 < mean["improved"], mean
    # Repeated samples of the same case do not all agree.
    assert runs["initial"][0] != runs["initial"][1] or runs["initial"][1] != runs["initial"][2]
