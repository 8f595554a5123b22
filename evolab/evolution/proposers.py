"""Where candidate changes come from.

* `reflect` asks the proposer model (one request per candidate) with the prompt of
  `prompts.py`; the answer is kept verbatim and parsed later, so a malformed answer is
  recorded, never dropped. Answers go through the response cache: a step repeated after
  a crash is answered from it and not billed again.
* `sweep` varies one sampling parameter within the range the runner backend honours.
* `human` proposals are written in the browser (`actions.proposal_submit`).
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, replace
from typing import Any

from evolab.backends.client import BackendClient
from evolab.backends.types import ChatRequest
from evolab.engine.edits import ProposalDraft
from evolab.engine.harness_config import HARNESS_YAML, parse_harness_config
from evolab.evolution.models import Campaign, MemoryEntry, Proposal, Round
from evolab.evolution.prompts import (
    ReviewToAnswer,
    Trajectory,
    input_text,
    reflect_messages,
    select_trajectories,
    transcript_text,
)
from evolab.projects.backend_configs import backend_config
from evolab.projects.models import BackendFamily
from evolab.runs.cache import cache_key, result_from_json, result_to_json
from evolab.runs.models import CaseResult, ResponseCacheEntry, ResultStatus
from evolab.runs.planning import sample_seed

MEMORY_IN_PROMPT = 30
PROPOSER_PARAMS = {"temperature": 1.0, "top_p": 0.95, "max_tokens": 4096}


@dataclass(frozen=True)
class Answer:
    text: str
    cost_usd: float
    tokens: int
    cache_key: str


def _grade_text(details: dict[str, Any] | None) -> str:
    """The grader's reason, else its details with sorted keys: PostgreSQL's jsonb gives
    keys back in its own order, and the prompt (and its cache key) must not depend on the
    database."""
    details = details or {}
    return str(details.get("reason", "") or json.dumps(details, sort_keys=True))


def feedback_trajectories(campaign: Campaign, round: Round) -> list[Trajectory]:
    """The parent's failing results on the feedback split, and nothing else: the held-out
    guard (and the selection split) never reach a proposer."""
    assert round.parent_run_id is not None
    rows = (
        CaseResult.objects.filter(
            run_id=round.parent_run_id, case__split=campaign.feedback_split, status=ResultStatus.DONE, passed=False
        )
        .values("case__key", "sample", "case__input", "case__target", "output", "score", "grade_details", "transcript")
    )
    # Ordered here, not by the database: PostgreSQL sorts keys by its collation (which
    # skips punctuation), SQLite by code point, and the prompt must not depend on which.
    ordered = sorted(rows, key=lambda row: (row["case__key"], row["sample"]))
    return [
        Trajectory(
            case_key=row["case__key"],
            input_text=input_text(row["case__input"]),
            target=row["case__target"],
            output=row["output"],
            score=row["score"],
            grade=_grade_text(row["grade_details"]),
            transcript=transcript_text(row["transcript"] or []),
        )
        for row in ordered
    ]


def memory_lines(campaign: Campaign) -> list[str]:
    entries = MemoryEntry.objects.filter(campaign=campaign).order_by("-pk").values_list("text", flat=True)
    return list(reversed(entries[:MEMORY_IN_PROMPT]))


def proposal_seed(campaign: Campaign, round_number: int, index: int) -> int:
    return sample_seed(campaign.seed, f"proposal:{round_number}", index)


def reflect_request(
    campaign: Campaign,
    round: Round,
    index: int,
    guidance: str,
    *,
    files: dict[str, str] | None = None,
    review: ReviewToAnswer | None = None,
) -> ChatRequest:
    """The reflect prompt for slot `index` of `round`; a revision passes the files of its
    own base and the review it answers."""
    files = files if files is not None else round.parent_version.files
    trajectories, omitted = select_trajectories(
        feedback_trajectories(campaign, round), seed=proposal_seed(campaign, round.number, 0)
    )
    messages = reflect_messages(
        files=files,
        trajectories=trajectories,
        omitted=omitted,
        guidance=guidance,
        memory=memory_lines(campaign),
        protected=campaign.protected_paths,
        round_number=round.number,
        review=review,
    )
    params = {**PROPOSER_PARAMS, "seed": proposal_seed(campaign, round.number, index)}
    return ChatRequest(messages=messages, params=params, sample_index=index)  # type: ignore[arg-type]


def reflect_answer(campaign: Campaign, request: ChatRequest) -> Answer:
    """Ask the proposer model; an identical earlier request is answered from the cache.

    A cached answer no proposal has used yet was paid for by a step that died before it
    recorded its proposal: the repeated step records that cost instead of zero."""
    assert campaign.proposer_backend is not None
    config = backend_config(campaign.proposer_backend)
    key = cache_key(config, request)
    stored = ResponseCacheEntry.objects.filter(key=key).values_list("result", flat=True).first()
    if stored is not None:
        unused = not Proposal.objects.filter(answer_key=key).exists()
        usage = stored.get("usage") or {}
        return Answer(
            text=result_from_json(stored).content,
            cost_usd=float(stored.get("cost_usd", 0.0)) if unused else 0.0,
            tokens=int(usage.get("input_tokens", 0) + usage.get("output_tokens", 0)) if unused else 0,
            cache_key=key,
        )

    async def ask() -> Any:
        async with BackendClient(config) as client:
            return await client.chat(request)

    result = asyncio.run(ask())
    ResponseCacheEntry.objects.bulk_create(
        [ResponseCacheEntry(key=key, result=result_to_json(replace(result, attempts=[])))], ignore_conflicts=True
    )
    usage = result.usage
    return Answer(
        text=result.content,
        cost_usd=result.cost_usd,
        tokens=usage.input_tokens + usage.output_tokens,
        cache_key=key,
    )


# Values a sweep tries; each is kept only if the runner backend accepts it (M2.7: a
# temperature in (0, 1]) and the probe did not find the parameter ignored.
SWEEP_GRID: dict[str, tuple[float, ...]] = {
    "temperature": (0.2, 0.4, 0.6, 0.8, 1.0),
    "top_p": (0.8, 0.9, 0.95, 1.0),
}


def sweep_draft(campaign: Campaign, round: Round, index: int) -> ProposalDraft | None:
    """One untried parameter value, chosen with the campaign's seed; None when the grid is
    exhausted."""
    backend = campaign.runner_backend
    sampling = parse_harness_config(round.parent_version.files.get(HARNESS_YAML, "")).sampling
    tried = {
        (key, value)
        for params in Proposal.objects.filter(campaign=campaign, kind="sweep").values_list("params", flat=True)
        for key, value in params.items()
    }
    options = []
    for param, values in SWEEP_GRID.items():
        if (backend.probe_results.get(param) or {}).get("status") in ("ignored", "rejected"):
            continue
        current = getattr(sampling, param, None)
        for value in values:
            if param == "temperature" and backend.family == BackendFamily.MINIMAX and not 0 < value <= 1:
                continue
            if value != current and (param, value) not in tried:
                options.append((param, value, current))
    if not options:
        return None
    param, value, current = random.Random(proposal_seed(campaign, round.number, index)).choice(options)
    return ProposalDraft(
        hypothesis=f"Sampling sweep: {param} {current if current is not None else 'default'} → {value}.",
        edits=(),
        params={param: value},
    )
