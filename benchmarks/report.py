"""The report of a run: its targets and headlines, the JSON file, and the table printed for a reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def target(name: str, short: str, measured: float | None, comparison: str, threshold: float) -> dict[str, Any]:
    """One of the issue's targets, judged on the measure as reported; ``short`` labels it on the chart."""
    passed = measured is not None and (measured >= threshold if comparison == ">=" else measured <= threshold)
    return {"name": name, "short": short, "measured": round_or_none(measured, 4), "comparison": comparison,
            "threshold": threshold, "pass": passed}


def headline(unit: str, labels: list[str], values: list[float], *, ratio: float | None = None,
             higher_is_better: bool = True, limits: list[float | None] | None = None,
             limit_label: str = "wire limit") -> dict[str, Any]:
    """The values a scenario is summed up by, in the table and the chart; ``limits`` are drawn per bar."""
    return {"unit": unit, "labels": labels, "values": values, "ratio": round_or_none(ratio, 4),
            "higher_is_better": higher_is_better, "limits": limits or [None] * len(values), "limit_label": limit_label}


def round_or_none(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per scenario: what is compared, both values, their ratio, wire share and peak RSS of each side."""
    table = [["scenario", "measure", "compared", "first", "second", "ratio", "share of wire limit", "peak RSS MiB"]]
    for name, result in report["scenarios"].items():
        if "error" in result:
            table.append([name, "error", result["error"].splitlines()[0][:70], "", "", "", "", ""])
            continue
        headline, sides = result["headline"], result["sides"]
        labels, values = list(headline["labels"]), list(headline["values"])
        if len(values) == 1:  # one side against its limit
            labels.append(headline["limit_label"].split()[0])
            values.append(headline["limits"][0])
        shares = [figures.get("wire_fraction") for figures in sides.values()]
        table.append([
            name, headline["unit"], " / ".join(labels), *(_number(v) for v in values),
            "–" if headline["ratio"] is None else f"{headline['ratio']:.2f}x",
            " / ".join(map(_percent, shares)) if any(s is not None for s in shares) else "–",
            " / ".join(_number(figures["peak_rss_mib"]) for figures in sides.values()),
        ])
    return table


def print_table(report: dict[str, Any]) -> None:
    table = rows(report)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print("\n(shares of the wire limit and peak RSS are per side, in the order compared)")
    for index, row in enumerate(table):
        print("  ".join(cell.ljust(width) if i < 3 else cell.rjust(width) for i, (cell, width) in
                        enumerate(zip(row, widths))))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print("\nTargets")
    for name, result in report["scenarios"].items():
        for goal in result.get("targets", []):
            verdict = "pass" if goal["pass"] else "MISS"
            print(f"  {verdict:4}  {name}: {goal['name']} = {_number(goal['measured'])} "
                  f"(target {goal['comparison']} {goal['threshold']})")
        for note in result.get("notes", []):
            print(f"        {name}: {note}")
