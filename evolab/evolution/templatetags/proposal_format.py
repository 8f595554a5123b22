"""Numbers of the proposal page. Scores are stored in 0..1 and shown in points (0..100),
as the rest of evolab shows deltas ("+6.2 pts")."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pts(value: float | None) -> str:
    """0.062 → "+6.2"; "—" when unknown."""
    return "—" if value is None else f"{float(value) * 100:+.1f}"


@register.filter
def signed(value: float | None) -> str:
    """A per-case delta on the score's own 0..1 scale: 0.667 → "+0.67"; "—" when unknown."""
    return "—" if value is None else f"{float(value):+.2f}"


@register.filter
def pts_abs(value: float | None) -> str:
    """A size in points, unsigned: 0.014 → "1.4"."""
    return "—" if value is None else f"{abs(float(value)) * 100:.1f}"


@register.filter
def pct(value: float | None) -> str:
    """A relative change already in percent: 8.04 → "+8%"; "—" when unknown."""
    return "—" if value is None else f"{float(value):+.0f}%"


@register.filter
def signed_seconds(value: float | None) -> str:
    return "—" if value is None else f"{float(value):+.2f} s"


@register.filter
def arrow(result: str) -> str:
    """A case's result as a symbol that does not rely on colour: ▲ win, ▼ loss, = tie."""
    return {"win": "▲", "loss": "▼", "tie": "="}.get(result, "·")
