from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from scipy import stats

from evolab.engine.comparison import compare_paired, minimum_detectable_effect, noise_floor


def bernoulli_run(probabilities: list[float], k: int, rng: random.Random) -> dict[str, list[float]]:
    return {f"case-{i}": [float(rng.random() < p) for _ in range(k)] for i, p in enumerate(probabilities)}


def case_means(run: dict[str, list[float]]) -> np.ndarray:
    return np.array([np.mean(run[key]) for key in sorted(run)])


def planted_effect() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """200 cases of varying difficulty, k = 3; the candidate passes each 10 points more often."""
    rng = random.Random(7)
    difficulty = [rng.uniform(0.2, 0.7) for _ in range(200)]
    parent = bernoulli_run(difficulty, 3, rng)
    candidate = bernoulli_run([p + 0.1 for p in difficulty], 3, rng)
    return parent, candidate


def test_nothing_paired_gives_no_comparison() -> None:
    assert compare_paired({}, {}) is None
    assert compare_paired({"a": [1.0]}, {"b": [1.0], "a": []}) is None


def test_identical_runs_show_no_difference() -> None:
    run = bernoulli_run([0.3, 0.5, 0.8] * 20, 3, random.Random(1))

    result = compare_paired(run, run)

    assert result is not None
    assert result.delta == 0
    assert (result.low, result.high) == (0.0, 0.0)
    assert result.p_value == 1.0
    assert (result.wins, result.losses, result.ties) == (0, 0, 60)
    assert result.test == "permutation"


def test_a_planted_ten_point_effect_is_detected() -> None:
    parent, candidate = planted_effect()

    result = compare_paired(parent, candidate)

    assert result is not None
    assert result.n == 200 and result.k_parent == 3 and result.k_candidate == 3
    assert result.delta == pytest.approx(0.1, abs=0.05)
    assert result.delta == pytest.approx(result.candidate_mean - result.parent_mean)
    assert result.low > 0
    assert result.p_value < 0.05
    assert result.wins > result.losses
    assert result.wins + result.losses + result.ties == 200


def test_single_pass_fail_samples_use_mcnemar_like_scipy_binomtest() -> None:
    rng = random.Random(3)
    parent = {f"c{i}": [float(rng.random() < 0.5)] for i in range(60)}
    candidate = {f"c{i}": [float(rng.random() < 0.7)] for i in range(60)}
    b = sum(1 for key in parent if parent[key] == [1.0] and candidate[key] == [0.0])
    c = sum(1 for key in parent if parent[key] == [0.0] and candidate[key] == [1.0])

    result = compare_paired(parent, candidate)

    assert result is not None
    assert result.test == "mcnemar"
    assert (result.wins, result.losses) == (c, b)
    assert result.p_value == pytest.approx(stats.binomtest(min(b, c), b + c, 0.5).pvalue, abs=1e-9)
    assert result.p_value < 1


def test_mcnemar_with_balanced_discordant_pairs_gives_one() -> None:
    parent = {"a": [1.0], "b": [0.0], "c": [1.0]}
    candidate = {"a": [0.0], "b": [1.0], "c": [1.0]}

    result = compare_paired(parent, candidate)

    assert result is not None
    assert result.test == "mcnemar"
    assert result.p_value == 1.0


def test_exact_permutation_p_matches_scipy() -> None:
    parent = {
        "a": [0.5, 1.0],
        "b": [0.0, 0.0],
        "c": [1.0, 1.0],
        "d": [0.25, 0.75],
        "e": [0.0, 1.0],
        "f": [0.5],
        "g": [0.9, 0.1, 0.2],
        "h": [1.0, 0.0],
        "i": [0.3, 0.3],
        "j": [0.6, 0.2],
    }
    candidate = {
        "a": [1.0, 1.0],
        "b": [0.5, 0.0],
        "c": [1.0, 1.0],  # a zero difference
        "d": [1.0, 0.75],
        "e": [1.0, 1.0],
        "f": [0.25],
        "g": [0.8, 0.9, 0.7],
        "h": [0.5, 0.0],
        "i": [0.6, 0.3],
        "j": [0.6, 0.6],
    }

    result = compare_paired(parent, candidate)

    x, y = case_means(candidate), case_means(parent)
    expected = stats.permutation_test(
        (x, y),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
        alternative="two-sided",
    )
    assert result is not None
    assert result.test == "permutation"
    assert 0.01 < expected.pvalue < 0.5
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_monte_carlo_permutation_p_is_close_to_the_exact_one() -> None:
    # 17 non-zero differences: one more than is enumerated exactly.
    rng = random.Random(7)
    parent = {f"c{i}": [rng.random(), rng.random()] for i in range(17)}
    candidate = {key: [min(1.0, max(0.0, s + rng.gauss(0.05, 0.15))) for s in scores] for key, scores in parent.items()}

    result = compare_paired(parent, candidate, resamples=4000)

    x, y = case_means(candidate), case_means(parent)
    exact = stats.permutation_test(
        (x, y),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
        vectorized=True,
    )
    assert result is not None
    assert 0.1 < exact.pvalue < 0.5
    assert result.p_value == pytest.approx(exact.pvalue, abs=0.03)


def test_monte_carlo_permutation_p_is_never_zero() -> None:
    parent = {f"c{i}": [0.2, 0.4] for i in range(30)}
    candidate = {f"c{i}": [0.8, 0.6] for i in range(30)}

    result = compare_paired(parent, candidate, resamples=999)

    assert result is not None
    assert result.p_value == 1 / 1000


def test_bootstrap_interval_is_close_to_scipy_and_deterministic() -> None:
    parent, candidate = planted_effect()

    result = compare_paired(parent, candidate, seed=11)
    again = compare_paired(parent, candidate, seed=11)
    other_seed = compare_paired(parent, candidate, seed=12)

    expected = stats.bootstrap(
        (case_means(candidate), case_means(parent)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        method="percentile",
        confidence_level=0.95,
        n_resamples=20000,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert result is not None and again is not None and other_seed is not None
    assert result.low == pytest.approx(expected.low, abs=0.01)
    assert result.high == pytest.approx(expected.high, abs=0.01)
    assert (again.low, again.high, again.p_value) == (result.low, result.high, result.p_value)
    assert (other_seed.low, other_seed.high) != (result.low, result.high)


def test_noise_floor_matches_its_formula() -> None:
    run = {"a": [1.0, 0.0, 1.0], "b": [0.0, 0.0, 0.0], "c": [0.5, 1.0, 0.0], "d": [1.0, 0.0]}
    counts = [len(values) for values in run.values()]
    pooled = sum(np.var(values, ddof=1) * (len(values) - 1) for values in run.values()) / sum(c - 1 for c in counts)
    harmonic_k = stats.hmean(counts)

    expected = stats.norm.ppf(0.975) * math.sqrt(2 * pooled / (harmonic_k * len(run)))

    assert noise_floor(run) == pytest.approx(expected, rel=1e-12)
    assert noise_floor({"a": [1.0], "b": [0.0]}) is None


def test_two_runs_of_one_harness_exceed_the_noise_floor_about_five_percent_of_the_time() -> None:
    rng = random.Random(2024)
    probabilities = [rng.uniform(0.05, 0.95) for _ in range(100)]
    exceeded = 0
    trials = 400
    for _ in range(trials):
        first = bernoulli_run(probabilities, 3, rng)
        second = bernoulli_run(probabilities, 3, rng)
        delta = abs(case_means(second).mean() - case_means(first).mean())
        floor = noise_floor(first)
        assert floor is not None
        exceeded += delta > floor

    assert 0.01 <= exceeded / trials <= 0.12


def test_comparison_reports_the_parents_noise_floor_on_paired_cases() -> None:
    parent, candidate = planted_effect()
    parent_with_extra = {**parent, "unpaired": [0.0, 1.0, 0.0, 1.0]}

    result = compare_paired(parent_with_extra, candidate)

    assert result is not None
    assert result.noise_floor == noise_floor(parent)


def test_minimum_detectable_effect_uses_normal_quantiles() -> None:
    expected = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.4 / math.sqrt(200)

    assert minimum_detectable_effect(0.4, 200) == pytest.approx(expected, rel=1e-9)
    assert minimum_detectable_effect(0.4, 50, alpha=0.01, power=0.9) == pytest.approx(
        (stats.norm.ppf(0.995) + stats.norm.ppf(0.9)) * 0.4 / math.sqrt(50), rel=1e-9
    )
    with pytest.raises(ValueError):
        minimum_detectable_effect(0.4, 0)


def test_comparison_mde_uses_the_sd_of_differences() -> None:
    parent, candidate = planted_effect()
    differences = case_means(candidate) - case_means(parent)

    result = compare_paired(parent, candidate)

    assert result is not None
    assert result.mde == pytest.approx(minimum_detectable_effect(float(np.std(differences, ddof=1)), 200), rel=1e-9)


def test_mde_falls_back_to_run_to_run_noise_then_to_a_bernoulli() -> None:
    repeated = {"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0, 0.0]}  # pooled within-case variance 1/6
    single = {"a": [1.0], "b": [1.0], "c": [0.0], "d": [0.0]}

    from_noise = compare_paired(repeated, repeated)
    from_bernoulli = compare_paired(single, single)

    assert from_noise is not None and from_bernoulli is not None
    assert from_noise.mde == pytest.approx(minimum_detectable_effect(math.sqrt(2 * (1 / 6) / 2), 3), rel=1e-9)
    assert from_bernoulli.mde == pytest.approx(minimum_detectable_effect(math.sqrt(2 * 0.5 * 0.5), 4), rel=1e-9)


def test_unpaired_cases_are_ignored() -> None:
    parent = {"a": [1.0, 0.0], "b": [0.5], "only-parent": [1.0], "unscored": []}
    candidate = {"a": [1.0], "b": [1.0, 1.0, 1.0], "only-candidate": [0.0], "unscored": [0.0]}

    result = compare_paired(parent, candidate)

    assert result is not None
    assert result.n == 2
    assert result.k_parent == 1.5 and result.k_candidate == 2
    assert result.parent_mean == 0.5 and result.candidate_mean == 1.0
    assert (result.wins, result.losses, result.ties) == (2, 0, 0)


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan])
def test_scores_outside_zero_to_one_are_rejected_naming_the_case(bad: float) -> None:
    good = {"fine": [1.0], "broken-case": [0.0]}
    with pytest.raises(ValueError, match="broken-case"):
        compare_paired(good, {"fine": [1.0], "broken-case": [0.0, bad]})
    with pytest.raises(ValueError, match="broken-case"):
        compare_paired({"fine": [1.0], "broken-case": [bad]}, good)
    with pytest.raises(ValueError, match="broken-case"):
        noise_floor({"broken-case": [bad, 0.0]})


def test_as_dict_is_json_friendly() -> None:
    parent, candidate = planted_effect()
    result = compare_paired(parent, candidate)
    assert result is not None

    stored = json.loads(json.dumps(result.as_dict()))

    assert stored["delta"] == result.delta
    assert stored["test"] == "permutation"
    assert set(stored) >= {"n", "low", "high", "p_value", "wins", "losses", "ties", "noise_floor", "mde"}


def test_bootstrap_of_many_distinct_differences_is_close_to_scipy() -> None:
    # Continuous scores: every difference distinct, so each resample draws case indices
    # (pass/fail samples, above, draw counts per distinct difference instead).
    rng = random.Random(5)
    parent = {f"c{i}": [rng.random()] for i in range(300)}
    candidate = {key: [min(1.0, max(0.0, s[0] + rng.gauss(0.04, 0.2)))] for key, s in parent.items()}

    result = compare_paired(parent, candidate, seed=3, resamples=4000)

    expected = stats.bootstrap(
        (case_means(candidate), case_means(parent)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        method="percentile",
        n_resamples=20000,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert result is not None
    assert result.low == pytest.approx(expected.low, abs=0.005)
    assert result.high == pytest.approx(expected.high, abs=0.005)


def test_sampled_permutation_p_of_few_distinct_differences_is_close_to_scipy() -> None:
    # Pass/fail samples, k = 2: differences take five values, so the sampled test draws
    # how many copies of each keep their sign.
    rng = random.Random(9)
    parent = {f"c{i}": [float(rng.random() < 0.5) for _ in range(2)] for i in range(120)}
    candidate = {key: [float(rng.random() < 0.56) for _ in range(2)] for key in parent}

    result = compare_paired(parent, candidate, resamples=20000)

    expected = stats.permutation_test(
        (case_means(candidate), case_means(parent)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=50000,
        vectorized=True,
        rng=np.random.default_rng(0),
    )
    assert result is not None
    assert result.test == "permutation"
    assert 0.02 < expected.pvalue < 0.9
    assert result.p_value == pytest.approx(expected.pvalue, abs=0.015)
