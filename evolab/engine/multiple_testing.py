"""Corrections for looking at several p-values at once.

Comparing seven runs against one baseline is seven tests: at 0.05 each, the chance that
at least one looks significant by luck alone is about 30%. Holm's step-down correction
keeps that family-wise error rate at 0.05 and rejects at least as much as Bonferroni.
"""

from __future__ import annotations

from collections.abc import Sequence


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    With the m p-values sorted ascending, p_(i) becomes max over j <= i of
    min(1, (m - j + 1) p_(j)): each is compared with a threshold that loosens as the
    smaller ones are rejected, and the running maximum keeps the adjusted values in the
    same order as the raw ones. Rejecting where the adjusted value is below alpha is
    Holm's procedure at level alpha.
    """
    for p in p_values:
        # Written this way round so that NaN, which compares false, is rejected too.
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-value {p!r} is not within [0, 1]")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
