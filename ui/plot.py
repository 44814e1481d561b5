"""A small plot of mastery over time: one line per skill, one point per graded answer (inline SVG, no deps)."""

from __future__ import annotations

from html import escape

from pedagraph.learner import LearnerModel

WIDTH, HEIGHT, PAD = 330, 150, 26
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def mastery_series(model: LearnerModel) -> dict[str, list[tuple[int, float]]]:
    """Per skill: (answer number, mastery after it), answers numbered in time order across skills."""
    events = sorted(
        (obs.at, name, obs.p_before, obs.p_after) for name, state in model.skills.items() for obs in state.history
    )
    series: dict[str, list[tuple[int, float]]] = {}
    for i, (_at, name, before, after) in enumerate(events, start=1):
        points = series.setdefault(name, [(i - 1, before)])
        points.append((i, after))
    return series


def mastery_svg(model: LearnerModel) -> str:
    """The plot as an HTML snippet (a note instead when nothing was graded yet)."""
    series = mastery_series(model)
    if not series:
        return '<p class="mastery-empty">Your mastery over time appears here after your first checked answer.</p>'
    last = max(x for points in series.values() for x, _ in points) or 1
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def xy(x: int, p: float) -> str:
        return f"{PAD + plot_w * x / last:.1f},{PAD + plot_h * (1 - p):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 16 * len(series)}" '
             'role="img" aria-label="Mastery over time">',
             f'<line x1="{PAD}" y1="{PAD + plot_h}" x2="{PAD + plot_w}" y2="{PAD + plot_h}" stroke="#999"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + plot_h}" stroke="#999"/>',
             f'<text x="2" y="{PAD + 4}" font-size="10">100%</text>',
             f'<text x="8" y="{PAD + plot_h}" font-size="10">0%</text>',
             f'<text x="{PAD}" y="{PAD - 8}" font-size="11">Mastery after each checked answer</text>']  # fmt: skip
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        line = " ".join(xy(x, p) for x, p in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>')
        parts += [f'<circle cx="{xy(x, p).split(",")[0]}" cy="{xy(x, p).split(",")[1]}" r="2.5" fill="{colour}"/>'
                  for x, p in points[1:]]  # fmt: skip
        y = HEIGHT + 12 * i + 4
        parts.append(f'<rect x="{PAD}" y="{y - 8}" width="10" height="3" fill="{colour}"/>'
                     f'<text x="{PAD + 16}" y="{y}" font-size="11">{escape(name)} '
                     f'({round(points[-1][1] * 100)}%)</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
