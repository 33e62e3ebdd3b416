"""The chart of a run: one panel per scenario, its two headline values side by side (needs matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

COLOURS = ("#9e9e9e", "#1f77b4")
"""Baseline (or the first of two runs) grey, ours blue."""
OFF_SCALE = 3


def draw(report: dict[str, Any], path: Path) -> bool:
    """Write the chart of every scenario measured; False (and no file) if none was."""
    measured = {name: result for name, result in report["scenarios"].items() if "error" not in result}
    if not measured:
        return False
    columns = min(3, len(measured))
    rows = math.ceil(len(measured) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    for axis, (name, result) in zip(axes.flat, measured.items()):
        _panel(axis, name, result)
    for axis in list(axes.flat)[len(measured):]:
        axis.set_visible(False)
    machine = report["machine"]
    figure.suptitle(f"airflow-provider-vectorbackup benchmarks{' (--quick)' if report['quick'] else ''}: "
                    f"{machine['cpu_count']} CPUs, Python {machine['python']}", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or float(value).is_integer() else f"{value:,.2f}"


def _panel(axis: Any, name: str, result: dict[str, Any]) -> None:
    headline = result["headline"]
    values = headline["values"]
    bars = axis.bar(headline["labels"], values, color=COLOURS[-len(values):], width=0.6)
    ceiling = OFF_SCALE * max(values)
    shown_limits = []
    for index, limit in enumerate(headline["limits"]):
        if limit is None:
            continue
        shown = min(limit, ceiling)  # a limit far above the bars would flatten them: marked at the top instead
        text = headline["limit_label"] + ("" if limit == shown else f"\n{_label(limit)} (off scale)")
        axis.hlines(shown, index - 0.3, index + 0.3, colors="black", linestyles="dashed", linewidth=1)
        axis.annotate(text, (index, shown), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
        shown_limits.append(shown)
    # Values go inside bars tall enough to hold them, so that a limit line just above cannot hide them.
    top = max([*values, *shown_limits])
    tall = [v >= 0.15 * top for v in values]
    axis.bar_label(bars, labels=[_label(v) if t else "" for v, t in zip(values, tall)], label_type="center",
                   color="white", fontsize=9, fontweight="bold")
    axis.bar_label(bars, labels=["" if t else _label(v) for v, t in zip(values, tall)], fontsize=8)
    verdicts = "; ".join(f"{goal['short']} {'pass' if goal['pass'] else 'MISS'}" for goal in result["targets"])
    ratio = f"{headline['ratio']:.2f}x" if headline["ratio"] is not None else ""
    axis.set_title(f"{name}\n{'; '.join(part for part in (ratio, verdicts and f'target {verdicts}') if part)}",
                   fontsize=9)
    axis.set_ylabel(headline["unit"] + ("" if headline["higher_is_better"] else " (lower is better)"), fontsize=8)
    axis.tick_params(labelsize=8)
    axis.set_xlim(-0.75, len(values) - 0.25)
    axis.margins(y=0.2)
