"""Turn a claimed chunk's pending results into work items for the executor.

Everything the asynchronous part needs is read here, in one pass, so the event loop
never touches the ORM except through the batch writer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from evolab.backends.types import Message
from evolab.engine.harness_config import HarnessConfig, HarnessConfigError, parse_harness_config
from evolab.engine.rendering import HarnessRenderError, harness_environment, render_messages
from evolab.evals.importing import grading_case
from evolab.evals.models import effective_grader
from evolab.runs.models import CaseResult, ResultStatus, Run


@dataclass
class WorkItem:
    result_id: int
    case_key: str
    sample: int
    case: dict[str, Any]
    grader: dict[str, Any]
    config: HarnessConfig | None
    messages: list[Message] | None
    recorded_output: str | None
    error: str | None = None


def sample_seed(run_seed: int, case_key: str, sample: int) -> int:
    """A request seed per (run seed, case, sample): stable across retries and re-runs, so
    a retried request is the same request and an unchanged re-run hits the cache."""
    digest = hashlib.sha256(f"{run_seed}:{case_key}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def harness_config_of(run: Run) -> HarnessConfig:
    return parse_harness_config(run.harness_version.files.get("harness.yaml"))


def plan_items(run: Run, chunk_id: int) -> list[WorkItem]:
    results = (
        CaseResult.objects.filter(chunk_id=chunk_id, status=ResultStatus.PENDING).select_related("case").order_by("id")
    )
    files = run.harness_version.files
    try:
        base_config: HarnessConfig | None = harness_config_of(run)
        config_error = None
    except HarnessConfigError as error:
        base_config, config_error = None, str(error)
    version = run.suite_version
    environment = harness_environment(files)
    items = []
    for result in results:
        case = result.case
        grading = grading_case(case.key, case.input, case.target, case.metadata)
        item = WorkItem(
            result_id=result.pk,
            case_key=case.key,
            sample=result.sample,
            case=grading,
            grader=effective_grader(case.grader, version),
            config=None,
            messages=None,
            recorded_output=result.output if run.source == "outputs" else None,
        )
        if run.source == "outputs":
            items.append(item)
            continue
        if base_config is None:
            item.error = f"harness.yaml: {config_error}"
            items.append(item)
            continue
        config = base_config
        if config.sampling.seed is None:
            config = replace(
                config, sampling=replace(config.sampling, seed=sample_seed(run.seed, case.key, result.sample))
            )
        item.config = config
        try:
            item.messages = render_messages(files, grading, config, environment=environment)
        except HarnessRenderError as error:
            item.error = f"harness template: {error}"
        items.append(item)
    return items
