"""Numbers of runs as the pages show them: a score always with its interval."""

from __future__ import annotations

from django import template

from evolab.engine.statistics import Estimate

register = template.Library()


@register.filter
def score_text(estimate: Estimate | None) -> str:
    """0.714 with a 95% half-width of 0.021 → "71.4% ±2.1"; "—" before any score."""
    if estimate is None:
        return "—"
    return f"{estimate.mean * 100:.1f}% ±{estimate.half_width * 100:.1f}"


@register.filter
def interval_text(estimate: Estimate | None) -> str:
    """The interval itself and what it rests on, for a title or a table cell."""
    if estimate is None:
        return "nothing scored yet"
    interval = f"[{estimate.low * 100:.1f}%, {estimate.high * 100:.1f}%]"
    return f"95% interval {interval} · n={estimate.n} cases · k={estimate.k:g}"


@register.filter
def tokens(value: int | None) -> str:
    """412345 → "412k"; 1900 → "1.9k"; 2_100_000 → "2.1M"."""
    n = int(value or 0)
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


@register.filter
def seconds(value: float | None) -> str:
    """A duration: "0.8 s", "38 s", "4 min 10 s", "2 h 5 min"; "—" when unknown."""
    if value is None:
        return "—"
    s = float(value)
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


@register.filter
def usd(value: float | None) -> str:
    return f"${float(value or 0):.4f}" if float(value or 0) < 1 else f"${float(value or 0):,.2f}"
