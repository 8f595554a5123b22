from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from evolab.evolution.policy import (
    DEFAULT_SAFE_RANGES,
    Classification,
    Outcome,
    PolicyRules,
    ProposalFacts,
    Reason,
    classify,
)

# A proposal that applied cleanly, touched an ordinary skill and gained clearly.
GOOD = ProposalFacts(
    delta=0.08,
    low=0.05,
    high=0.11,
    mde=0.03,
    touched_paths=("skills/refunds.md",),
    cost_change_pct=5.0,
    latency_change_pct=3.0,
    diff_lines=12,
    param_changes={"sampling.temperature": (1.0, 0.7)},
)
AUTO = PolicyRules(allow_auto_merge=True, critical_paths=("system.md", "skills/safety/"))


def codes(result: Classification) -> list[str]:
    return [reason.code for reason in result.reasons]


def test_a_clear_gain_is_merged_when_the_policy_allows_it() -> None:
    result = classify(GOOD, AUTO)

    assert result.outcome is Outcome.AUTO_MERGE
    assert result.reasons == (
        Reason(
            "gain_clear",
            "The gain is clear: the interval's lower bound +0.050 is above the policy's minimum effect 0.020 "
            "(delta +0.080, interval [+0.050, +0.110]; minimum detectable effect 0.030).",
        ),
    )


@pytest.mark.parametrize(
    ("changes", "code", "text"),
    [
        (
            {"apply_error": "search text not found in skills/refunds.md"},
            "apply_failed",
            "search text not found in skills/refunds.md",
        ),
        (
            {"protected_violations": ("system.md is protected (pattern 'system.md')",)},
            "protected_path",
            "system.md is protected",
        ),
        ({"duplicate_of": "proposal #12"}, "duplicate", "repeats proposal #12"),
        ({"delta": -0.06, "low": -0.09, "high": -0.02}, "interval_below_zero", "interval [-0.090, -0.020]"),
    ],
)
def test_it_rejects(changes: dict[str, Any], code: str, text: str) -> None:
    result = classify(replace(GOOD, **changes), AUTO)

    assert result.outcome is Outcome.AUTO_REJECT
    assert codes(result) == [code]
    assert text in result.reasons[0].text


def test_an_interval_touching_zero_is_not_rejected() -> None:
    result = classify(replace(GOOD, delta=-0.04, low=-0.08, high=0.0), AUTO)

    assert result.outcome is Outcome.NEEDS_REVIEW
    assert codes(result) == ["gain_not_clear"]


@pytest.mark.parametrize(
    ("changes", "code", "text"),
    [
        ({"touched_paths": ("skills/refunds.md", "System.md")}, "critical_path", "System.md (pattern system.md)"),
        ({"touched_paths": ("skills/safety/refusals.md",)}, "critical_path", "skills/safety/refusals.md"),
        (
            {"critical_regressions": ("refund-07", "refund-11")},
            "critical_regression",
            "2 case(s) tagged 'critical' scored lower: refund-07, refund-11",
        ),
        (
            {"holdout_diverged": True, "holdout_delta": -0.04},
            "holdout_diverged",
            "held-out guard did not (holdout delta -0.040)",
        ),
        ({"cost_change_pct": 20.5}, "cost_increase", "Cost rose 20.5%, more than the 20% allowed"),
        ({"latency_change_pct": 40.0}, "latency_increase", "Latency rose 40.0%, more than the 25% allowed"),
        ({"diff_lines": 81}, "diff_too_large", "81 changed lines, more than the 80 allowed"),
        (
            {"param_changes": {"sampling.temperature": (1.0, 1.3)}},
            "param_out_of_range",
            "sampling.temperature 1.0 → 1.3 (safe range 0.01 to 1)",
        ),
        ({"param_changes": {"sampling.top_p": (0.95, 0.2)}}, "param_out_of_range", "sampling.top_p"),
        ({"param_changes": {"agent.max_turns": (6, 40)}}, "param_out_of_range", "agent.max_turns 6 → 40"),
        # Removing a setting hands it to the backend's default, which nobody has checked.
        ({"param_changes": {"sampling.temperature": (0.7, None)}}, "param_out_of_range", "0.7 → None"),
    ],
)
def test_it_sends_triggers_to_review(changes: dict[str, Any], code: str, text: str) -> None:
    result = classify(replace(GOOD, **changes), AUTO)

    assert result.outcome is Outcome.NEEDS_REVIEW
    assert codes(result) == [code]
    assert text in result.reasons[0].text


@pytest.mark.parametrize(
    "changes",
    [
        {"cost_change_pct": 20.0},
        {"latency_change_pct": 25.0},
        {"diff_lines": 80},
        {"param_changes": {"sampling.temperature": (1.0, 0.01), "sampling.seed": (1, 99999)}},
        {"touched_paths": ("skills/safety.md", "docs/system.md")},
        {"cost_change_pct": None, "latency_change_pct": None},
    ],
)
def test_values_at_or_inside_the_limits_do_not_trigger(changes: dict[str, Any]) -> None:
    assert classify(replace(GOOD, **changes), AUTO).outcome is Outcome.AUTO_MERGE


@pytest.mark.parametrize(
    ("facts", "rules", "code", "text"),
    [
        (GOOD, PolicyRules(), "policy_requires_review", "The policy sends every merge to a person (delta +0.080"),
        (ProposalFacts(), PolicyRules(), "policy_requires_review", "The policy sends every merge to a person."),
        (ProposalFacts(), AUTO, "gain_not_clear", "No score interval"),
        (
            replace(GOOD, low=0.01),
            AUTO,
            "gain_not_clear",
            "lower bound +0.010 is not above the policy's minimum effect 0.020",
        ),
        (
            replace(GOOD, low=0.02),
            AUTO,
            "gain_not_clear",
            "lower bound +0.020 is not above the policy's minimum effect 0.020",
        ),
        (
            GOOD,
            replace(AUTO, min_effect=0.05),
            "gain_not_clear",
            "is not above the policy's minimum effect 0.050 (delta +0.080, interval [+0.050, +0.110]; minimum detectable effect 0.030)",
        ),
    ],
)
def test_it_sends_unclear_or_unallowed_merges_to_review(
    facts: ProposalFacts, rules: PolicyRules, code: str, text: str
) -> None:
    result = classify(facts, rules)

    assert result.outcome is Outcome.NEEDS_REVIEW
    assert codes(result) == [code]
    assert text in result.reasons[0].text


def test_a_clear_gain_below_the_mde_still_merges() -> None:
    # The MDE is what a run this size could detect; a gain that was detected is real.
    assert classify(replace(GOOD, mde=0.2), AUTO).outcome is Outcome.AUTO_MERGE
    assert classify(replace(GOOD, mde=None), AUTO).outcome is Outcome.AUTO_MERGE


def test_it_lists_every_reject_reason_and_no_review_trigger() -> None:
    facts = replace(
        GOOD,
        apply_error="harness.yaml: sampling.temperature: 3 is greater than the maximum of 2",
        protected_violations=("system.md is protected (pattern 'system.md')",),
        duplicate_of="proposal #3",
        low=-0.2,
        high=-0.1,
        holdout_diverged=True,
        diff_lines=500,
    )

    result = classify(facts, AUTO)

    assert result.outcome is Outcome.AUTO_REJECT
    assert codes(result) == ["apply_failed", "protected_path", "duplicate", "interval_below_zero"]


def test_it_lists_every_review_trigger() -> None:
    facts = replace(
        GOOD,
        touched_paths=("system.md", "skills/safety/a.md", "skills/refunds.md"),
        critical_regressions=tuple(f"case-{n}" for n in range(8)),
        holdout_diverged=True,
        cost_change_pct=50.0,
        latency_change_pct=30.0,
        diff_lines=120,
        param_changes={"sampling.temperature": (1.0, 1.5), "agent.max_turns": (6, 0)},
    )

    result = classify(facts, AUTO)

    assert result.outcome is Outcome.NEEDS_REVIEW
    assert codes(result) == [
        "critical_path",
        "critical_regression",
        "holdout_diverged",
        "cost_increase",
        "latency_increase",
        "diff_too_large",
        "param_out_of_range",
    ]
    texts = {reason.code: reason.text for reason in result.reasons}
    assert "skills/safety/a.md (pattern skills/safety), system.md (pattern system.md)" in texts["critical_path"]
    assert "case-0, case-1, case-2, case-3, case-4 and 3 more" in texts["critical_regression"]
    assert "agent.max_turns 6 → 0" in texts["param_out_of_range"]
    assert "sampling.temperature 1.0 → 1.5" in texts["param_out_of_range"]


def test_a_custom_critical_tag_is_named() -> None:
    result = classify(replace(GOOD, critical_regressions=("k1",)), replace(AUTO, critical_tag="safety"))

    assert "1 case(s) tagged 'safety' scored lower: k1" in result.reasons[0].text


def test_as_dict() -> None:
    assert classify(replace(GOOD, duplicate_of="proposal #12"), AUTO).as_dict() == {
        "outcome": "auto_reject",
        "reasons": [{"code": "duplicate", "text": "The change repeats proposal #12."}],
    }


# Rules from and to settings ----------------------------------------------------------------


def test_the_default_policy_sends_everything_to_review() -> None:
    rules = PolicyRules()

    assert rules.allow_auto_merge is False
    assert dict(rules.safe_ranges) == DEFAULT_SAFE_RANGES
    assert PolicyRules.from_dict({}) == rules


def test_rules_round_trip() -> None:
    rules = PolicyRules(
        allow_auto_merge=True,
        critical_paths=("system.md", "skills/safety/*"),
        critical_tag="safety",
        max_cost_increase_pct=10.0,
        max_latency_increase_pct=15.5,
        max_diff_lines=40,
        safe_ranges={"sampling.temperature": (0.2, 0.9), "agent.loop_guard.window": (2.0, 8.0)},
        min_effect=0.02,
        approvals_needed=2,
        approvals_needed_critical=3,
        approver_min_role="maintainer",
    )

    assert PolicyRules.from_dict(rules.to_dict()) == rules
    assert PolicyRules.from_dict(PolicyRules().to_dict()) == PolicyRules()


def test_approval_rules_default_to_one_approval_and_two_for_critical_changes() -> None:
    rules = PolicyRules.from_dict({"approvals_needed": 2, "approvals_needed_critical": 2})

    assert (rules.approvals_needed, rules.approvals_needed_critical, rules.approver_min_role) == (2, 2, "reviewer")
    assert (PolicyRules().approvals_needed, PolicyRules().approvals_needed_critical) == (1, 2)


def test_from_dict_normalises() -> None:
    rules = PolicyRules.from_dict(
        {
            "critical_paths": ["./System.md", "skills/safety/", ""],
            "critical_tag": " safety ",
            "safe_ranges": {"temperature": [0, 1]},
        }
    )

    assert rules.critical_paths == ("system.md", "skills/safety")
    assert rules.critical_tag == "safety"
    assert rules.safe_ranges == {"sampling.temperature": (0.0, 1.0)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"auto_merge": True}, "auto_merge: unknown policy setting"),
        ({"allow_auto_merge": "yes"}, "allow_auto_merge must be true or false"),
        ({"critical_paths": "system.md"}, "critical_paths must be a list"),
        ({"critical_paths": ["../system.md"]}, "critical_paths: protected pattern '../system.md' contains '..'"),
        ({"critical_paths": ["/system.md"]}, "critical_paths: .* is absolute"),
        ({"critical_tag": ""}, "critical_tag must be a non-empty tag name"),
        ({"max_cost_increase_pct": "20"}, "max_cost_increase_pct must be a number"),
        ({"max_latency_increase_pct": -1}, "max_latency_increase_pct must be at least 0"),
        ({"max_cost_increase_pct": float("nan")}, "max_cost_increase_pct must be a number"),
        ({"min_effect": True}, "min_effect must be a number"),
        ({"max_diff_lines": 0}, "max_diff_lines must be a whole number"),
        ({"max_diff_lines": 12.5}, "max_diff_lines must be a whole number"),
        ({"safe_ranges": [["temperature", 0, 1]]}, "safe_ranges must map"),
        ({"safe_ranges": {"sampling.warmth": [0, 1]}}, "safe_ranges: 'sampling.warmth' is not a known parameter"),
        ({"safe_ranges": {"temperature": [0.5]}}, r"safe_ranges.sampling.temperature must be \[low, high\]"),
        ({"safe_ranges": {"temperature": [0.9, 0.5]}}, "safe_ranges.sampling.temperature: low 0.9 is above high 0.5"),
        ({"safe_ranges": {"top_p": ["a", 1]}}, "safe_ranges.sampling.top_p low must be a number"),
        ({"approvals_needed": 0}, "approvals_needed must be a whole number from 1 to 10"),
        ({"approvals_needed": True}, "approvals_needed must be a whole number"),
        ({"approvals_needed_critical": 1.5}, "approvals_needed_critical must be a whole number"),
        ({"approvals_needed_critical": 11}, "approvals_needed_critical must be a whole number from 1 to 10"),
        ({"approvals_needed": 3}, r"approvals_needed_critical \(2\) must be at least approvals_needed \(3\)"),
        ({"approver_min_role": "viewer"}, "approver_min_role must be one of reviewer, maintainer, owner"),
    ],
)
def test_from_dict_names_the_bad_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicyRules.from_dict(data)
