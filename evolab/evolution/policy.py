"""The merge policy: is an evaluated proposal auto-rejected, sent to review, or auto-merged?

Pure rules over plain facts, so the same facts always give the same answer and every
answer says why. The order of questions is fixed:

1. Reject, listing every reason that applies: the change failed to apply, touched a
   protected path, repeats an earlier change, or made things worse with confidence
   (the whole interval of the score delta lies below zero).
2. Send to review, listing every trigger that fires: a critical path touched, a
   critical-tagged case regressed, the holdout disagreed, cost or latency rose past the
   allowed percentage, the diff is large, a parameter left its safe range, the change
   quotes dev or holdout cases at length (leakage).
3. Auto-merge only when the policy allows it and the gain is clear: the interval's lower
   bound lies above the policy's minimum effect. The minimum detectable effect of the
   evaluation is reported with it (it says what a run of this size could have seen, not
   whether this gain is real). Otherwise review, saying what held it back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evolab.engine.edits import canonical_param_key
from evolab.engine.protected_paths import matching_pattern, validate_patterns

DEFAULT_SAFE_RANGES: dict[str, tuple[float, float]] = {
    # The hosted M2.7 API accepts temperature in (0, 1].
    "sampling.temperature": (0.01, 1.0),
    "sampling.top_p": (0.5, 1.0),
    "sampling.max_tokens": (256.0, 16384.0),
    "agent.max_turns": (1.0, 20.0),
}
# Long lists in reason texts are cut here; the full list is in the facts.
_LISTED = 5
# Who may give a +2 that counts (project role labels, see projects.models.Role).
APPROVER_ROLES = ("reviewer", "maintainer", "owner")
MAX_APPROVALS = 10
# Reason codes of the review triggers that ask for `approvals_needed_critical`.
CRITICAL_REASON_CODES = frozenset({"critical_path", "critical_regression"})


class Outcome(StrEnum):
    AUTO_REJECT = "auto_reject"
    NEEDS_REVIEW = "needs_review"
    AUTO_MERGE = "auto_merge"


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for filters and tests
    text: str  # a sentence for people, with the numbers


@dataclass(frozen=True)
class Classification:
    outcome: Outcome
    reasons: tuple[Reason, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reasons": [{"code": reason.code, "text": reason.text} for reason in self.reasons],
        }


def _number(name: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}")
    return float(value)


@dataclass(frozen=True)
class PolicyRules:
    # The default policy sends every merge to a person.
    allow_auto_merge: bool = False
    # Glob patterns, matched like protected paths (see evolab.engine.protected_paths).
    critical_paths: tuple[str, ...] = ()
    critical_tag: str = "critical"
    max_cost_increase_pct: float = 20.0
    max_latency_increase_pct: float = 25.0
    max_diff_lines: int = 80
    # Dotted harness.yaml keys → (lowest, highest) value merged without review.
    safe_ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_SAFE_RANGES))
    # Auto-merge needs the interval's lower bound above this gain (in score points, 0..1):
    # a significant but negligible gain is not worth a change nobody looked at.
    min_effect: float = 0.02
    # Merging a proposal that waits for review needs this many +2 votes, or
    # `approvals_needed_critical` when a critical trigger fired (a critical path touched,
    # a critical-tagged case regressed); a +2 counts only from `approver_min_role` up.
    approvals_needed: int = 1
    approvals_needed_critical: int = 2
    approver_min_role: str = "reviewer"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyRules:
        """Rules from stored settings; missing keys keep their defaults.

        Raises ValueError naming the field at fault. A given `safe_ranges` replaces the
        defaults as a whole, so a range can be removed.
        """
        known = {name for name in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown policy setting")
        values: dict[str, Any] = {}
        if "allow_auto_merge" in data:
            if not isinstance(data["allow_auto_merge"], bool):
                raise ValueError("allow_auto_merge must be true or false")
            values["allow_auto_merge"] = data["allow_auto_merge"]
        if "critical_paths" in data:
            raw = data["critical_paths"]
            if isinstance(raw, str) or not isinstance(raw, list | tuple):
                raise ValueError("critical_paths must be a list of patterns")
            try:
                values["critical_paths"] = tuple(validate_patterns(raw))
            except ValueError as exc:
                raise ValueError(f"critical_paths: {exc}") from None
        if "critical_tag" in data:
            tag = data["critical_tag"]
            if not isinstance(tag, str) or not tag.strip():
                raise ValueError("critical_tag must be a non-empty tag name")
            values["critical_tag"] = tag.strip()
        for name in ("max_cost_increase_pct", "max_latency_increase_pct", "min_effect"):
            if name in data:
                values[name] = _number(name, data[name], minimum=0)
        if "max_diff_lines" in data:
            lines = data["max_diff_lines"]
            if isinstance(lines, bool) or not isinstance(lines, int) or lines < 1:
                raise ValueError("max_diff_lines must be a whole number of at least 1")
            values["max_diff_lines"] = lines
        if "safe_ranges" in data:
            values["safe_ranges"] = _safe_ranges(data["safe_ranges"])
        for name in ("approvals_needed", "approvals_needed_critical"):
            if name in data:
                count = data[name]
                if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_APPROVALS:
                    raise ValueError(f"{name} must be a whole number from 1 to {MAX_APPROVALS}")
                values[name] = count
        if "approver_min_role" in data:
            if data["approver_min_role"] not in APPROVER_ROLES:
                raise ValueError(f"approver_min_role must be one of {', '.join(APPROVER_ROLES)}")
            values["approver_min_role"] = data["approver_min_role"]
        rules = cls(**values)
        if rules.approvals_needed_critical < rules.approvals_needed:
            raise ValueError(
                f"approvals_needed_critical ({rules.approvals_needed_critical}) must be at least "
                f"approvals_needed ({rules.approvals_needed})"
            )
        return rules

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; `from_dict(rules.to_dict()) == rules`."""
        return {
            "allow_auto_merge": self.allow_auto_merge,
            "critical_paths": list(self.critical_paths),
            "critical_tag": self.critical_tag,
            "max_cost_increase_pct": self.max_cost_increase_pct,
            "max_latency_increase_pct": self.max_latency_increase_pct,
            "max_diff_lines": self.max_diff_lines,
            "safe_ranges": {key: [low, high] for key, (low, high) in self.safe_ranges.items()},
            "min_effect": self.min_effect,
            "approvals_needed": self.approvals_needed,
            "approvals_needed_critical": self.approvals_needed_critical,
            "approver_min_role": self.approver_min_role,
        }


def _safe_ranges(raw: Any) -> dict[str, tuple[float, float]]:
    if not isinstance(raw, Mapping):
        raise ValueError("safe_ranges must map parameter names to [low, high]")
    ranges: dict[str, tuple[float, float]] = {}
    for name, bounds in raw.items():
        key = canonical_param_key(name) if isinstance(name, str) else None
        if key is None:
            raise ValueError(f"safe_ranges: {name!r} is not a known parameter")
        if isinstance(bounds, str) or not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ValueError(f"safe_ranges.{key} must be [low, high]")
        low = _number(f"safe_ranges.{key} low", bounds[0])
        high = _number(f"safe_ranges.{key} high", bounds[1])
        if low > high:
            raise ValueError(f"safe_ranges.{key}: low {low:g} is above high {high:g}")
        ranges[key] = (low, high)
    return ranges


@dataclass(frozen=True)
class ProposalFacts:
    """What is known about a proposal once it has been applied and evaluated.

    Every field defaults to "nothing wrong, nothing measured", so callers name only what
    they know. `delta`, `low`, `high` and `mde` are None without statistics.
    """

    apply_error: str | None = None  # failed to apply, unparseable, or invalid harness.yaml
    protected_violations: tuple[str, ...] = ()  # human texts
    duplicate_of: str | None = None  # e.g. "proposal #12"
    delta: float | None = None
    low: float | None = None
    high: float | None = None
    mde: float | None = None
    touched_paths: tuple[str, ...] = ()
    critical_regressions: tuple[str, ...] = ()  # keys of critical-tagged cases that scored lower
    holdout_diverged: bool = False
    holdout_delta: float | None = None  # candidate - parent on the held-out guard
    cost_change_pct: float | None = None
    latency_change_pct: float | None = None
    diff_lines: int = 0
    param_changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    # Cases whose text the change quotes at length (see evolab.engine.leakage), and the
    # longest overlap in words.
    leaked_holdout_cases: int = 0
    leaked_dev_cases: int = 0
    leaked_words: int = 0


def _listing(items: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown if len(items) <= _LISTED else f"{shown} and {len(items) - _LISTED} more"


def _signed(value: float | None) -> str:
    return "?" if value is None else f"{value:+.3f}"


def _interval(facts: ProposalFacts) -> str:
    return f"delta {_signed(facts.delta)}, interval [{_signed(facts.low)}, {_signed(facts.high)}]"


def _reject_reasons(facts: ProposalFacts) -> list[Reason]:
    reasons: list[Reason] = []
    if facts.apply_error:
        reasons.append(Reason("apply_failed", f"The change could not be applied: {facts.apply_error}"))
    if facts.protected_violations:
        reasons.append(
            Reason("protected_path", f"The change touches protected paths: {'; '.join(facts.protected_violations)}")
        )
    if facts.duplicate_of:
        reasons.append(Reason("duplicate", f"The change repeats {facts.duplicate_of}."))
    if facts.high is not None and facts.high < 0:
        text = f"The score got worse: the whole interval lies below zero ({_interval(facts)})."
        reasons.append(Reason("interval_below_zero", text))
    return reasons


def _outside(value: Any, bounds: tuple[float, float]) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return not bounds[0] <= value <= bounds[1]


def _review_triggers(facts: ProposalFacts, rules: PolicyRules) -> list[Reason]:
    reasons: list[Reason] = []
    critical = sorted(
        {
            f"{path} (pattern {pattern})"
            for path in facts.touched_paths
            if (pattern := matching_pattern(path, rules.critical_paths)) is not None
        }
    )
    if critical:
        reasons.append(Reason("critical_path", f"The change touches critical paths: {_listing(critical)}."))
    if facts.critical_regressions:
        count = len(facts.critical_regressions)
        text = f"{count} case(s) tagged {rules.critical_tag!r} scored lower: {_listing(facts.critical_regressions)}."
        reasons.append(Reason("critical_regression", text))
    if facts.holdout_diverged:
        measured = f" (holdout delta {_signed(facts.holdout_delta)})" if facts.holdout_delta is not None else ""
        text = f"The selection split improved but the held-out guard did not{measured}: the gain may not generalise."
        reasons.append(Reason("holdout_diverged", text))
    if facts.cost_change_pct is not None and facts.cost_change_pct > rules.max_cost_increase_pct:
        text = f"Cost rose {facts.cost_change_pct:.1f}%, more than the {rules.max_cost_increase_pct:g}% allowed."
        reasons.append(Reason("cost_increase", text))
    if facts.latency_change_pct is not None and facts.latency_change_pct > rules.max_latency_increase_pct:
        text = (
            f"Latency rose {facts.latency_change_pct:.1f}%, more than the {rules.max_latency_increase_pct:g}% allowed."
        )
        reasons.append(Reason("latency_increase", text))
    if facts.diff_lines > rules.max_diff_lines:
        text = f"The diff has {facts.diff_lines} changed lines, more than the {rules.max_diff_lines} allowed."
        reasons.append(Reason("diff_too_large", text))
    out_of_range = [
        f"{key} {old!r} → {new!r} (safe range {bounds[0]:g} to {bounds[1]:g})"
        for key, (old, new) in sorted(facts.param_changes.items())
        if (bounds := rules.safe_ranges.get(key)) is not None and _outside(new, bounds)
    ]
    if out_of_range:
        text = f"Parameters outside their safe range: {'; '.join(out_of_range)}."
        reasons.append(Reason("param_out_of_range", text))
    if facts.leaked_holdout_cases or facts.leaked_dev_cases:
        # Counts only: the reason is shown to every member, holdout keys are not.
        text = (
            f"The change quotes eval cases at length ({facts.leaked_holdout_cases} holdout, "
            f"{facts.leaked_dev_cases} dev; longest overlap {facts.leaked_words} words): "
            "a gain may come from knowing the test."
        )
        reasons.append(Reason("leakage", text))
    return reasons


def classify(facts: ProposalFacts, rules: PolicyRules) -> Classification:
    """Auto-reject, needs review or auto-merge, with every reason that led there."""
    rejections = _reject_reasons(facts)
    if rejections:
        return Classification(Outcome.AUTO_REJECT, tuple(rejections))
    triggers = _review_triggers(facts, rules)
    if triggers:
        return Classification(Outcome.NEEDS_REVIEW, tuple(triggers))
    if not rules.allow_auto_merge:
        measured = f" ({_interval(facts)})" if facts.low is not None else ""
        text = f"The policy sends every merge to a person{measured}."
        return Classification(Outcome.NEEDS_REVIEW, (Reason("policy_requires_review", text),))
    if facts.low is None:
        text = "No score interval yet, so the gain is not clear."
        return Classification(Outcome.NEEDS_REVIEW, (Reason("gain_not_clear", text),))
    mde = f"; minimum detectable effect {facts.mde:.3f}" if facts.mde is not None else ""
    if facts.low > rules.min_effect:
        text = (
            f"The gain is clear: the interval's lower bound {facts.low:+.3f} is above the policy's minimum effect "
            f"{rules.min_effect:.3f} ({_interval(facts)}{mde})."
        )
        return Classification(Outcome.AUTO_MERGE, (Reason("gain_clear", text),))
    text = (
        f"The gain is not clear: the interval's lower bound {facts.low:+.3f} is not above the policy's minimum "
        f"effect {rules.min_effect:.3f} ({_interval(facts)}{mde})."
    )
    return Classification(Outcome.NEEDS_REVIEW, (Reason("gain_not_clear", text),))
