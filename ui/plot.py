"""A small plot of mastery over time: one line per skill, one point per graded answer (inline SVG, no deps)."""

from __future__ import annotations

from html import escape

from pedagraph.learner import LearnerModel
from pedagraph.learning import OPERATION_SKILLS

PLOTTED = (*OPERATION_SKILLS, "fractions", "percentages")
"""Skills the plot shows when the learner has any of them (tags such as `time` or `money` are left out)."""
WIDTH, HEIGHT, PAD = 330, 150, 26
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def mastery_series(model: LearnerModel) -> dict[str, list[tuple[int, float]]]:
    """Per skill: (answer number, mastery after it), answers numbered in time order.

    One checked answer (a session's turn) is one number for all the skills it graded.
    """
    observations = sorted(((obs.at, name, obs) for name, state in model.skills.items() for obs in state.history),
                          key=lambda t: (t[0], t[1]))  # fmt: skip
    answers: dict[tuple[str, int | None], int] = {}
    series: dict[str, list[tuple[int, float]]] = {}
    for _at, name, obs in observations:
        x = answers.setdefault((obs.session_id, obs.turn), len(answers) + 1)
        points = series.setdefault(name, [(x - 1, obs.p_before)])
        points.append((x, obs.p_after))
    return series


def mastery_svg(model: LearnerModel) -> str:
    """The plot as an HTML snippet (a note instead when nothing was graded yet)."""
    series = mastery_series(model)
    if any(name in PLOTTED for name in series):
        series = {name: points for name, points in series.items() if name in PLOTTED}
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
