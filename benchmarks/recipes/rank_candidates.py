"""Apply the round-3 selection rule (docs/recipes.md) to explore_transfer.py's records.

    python benchmarks/recipes/rank_candidates.py CANDIDATES.jsonl [--budget-seconds N]

Each line of the file is one `RESULT` record (validation and unlabelled-test scores only;
there is no test accuracy in them). Records with the same label are seeds of one candidate
and are averaged. The rule: eligible when mean V ≥ best mean V − 0.02 (and within the time
budget, when the records carry a projected time); ranked by mean S = B + (1 − A), lower
first; ties (S within 0.005) by higher V, then higher Vb. Prints a markdown table, the
eligible candidates first in rank order.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

GATE = 0.02
TIE = 0.005
KEYS = ("V", "Vb", "B", "A", "S", "H", "train_seconds")


def load(path: Path) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            groups.setdefault(record["label"], []).append(record)
    return groups


def summarise(records: list[dict]) -> dict:
    row = {k: statistics.mean(r[k] for r in records) for k in KEYS}
    row["seeds"] = sorted(r["seed"] for r in records)
    row["counts"] = [round(statistics.mean(r["counts"][c] for r in records)) for c in range(3)]
    return row


def _beats_in_a_tie(row: dict, above: dict) -> bool:
    return abs(row["S"] - above["S"]) < TIE and (row["V"], row["Vb"]) > (above["V"], above["Vb"])


def rank(groups: dict[str, list[dict]]) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """(eligible in rank order, the others by V) under the rule."""
    rows = {label: summarise(records) for label, records in groups.items()}
    best_v = max(row["V"] for row in rows.values())
    eligible = [(k, r) for k, r in rows.items() if r["V"] >= best_v - GATE - 1e-9]
    others = [(k, r) for k, r in rows.items() if r["V"] < best_v - GATE - 1e-9]

    eligible.sort(key=lambda item: item[1]["S"])
    # ties: within TIE of the one above, the higher V (then Vb) goes first
    ordered: list[tuple[str, dict]] = []
    for item in eligible:
        ordered.append(item)
        i = len(ordered) - 1
        while i > 0 and _beats_in_a_tie(ordered[i][1], ordered[i - 1][1]):
            ordered[i - 1], ordered[i] = ordered[i], ordered[i - 1]
            i -= 1
    others.sort(key=lambda item: -item[1]["V"])
    return ordered, others


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("records", type=Path)
    args = p.parse_args()
    eligible, others = rank(load(args.records))
    best_v = max(r["V"] for _, r in eligible)
    print(f"gate: V ≥ {best_v - GATE:.3f} (best mean V {best_v:.3f} − {GATE})\n")
    print(
        "| rank | candidate | seeds | V / Vb | B | A | **S** | H | predicted bus/car/truck "
        "| train s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, (label, r) in enumerate(eligible + others, 1):
        place = str(i) if i <= len(eligible) else "out (gate)"
        seeds = ",".join(str(s) for s in r["seeds"])
        print(
            f"| {place} | {label} | {seeds} | {r['V']:.3f} / {r['Vb']:.3f} | {r['B']:.3f} | "
            f"{r['A']:.3f} | **{r['S']:.3f}** | {r['H']:.3f} | "
            f"{' / '.join(str(c) for c in r['counts'])} | {r['train_seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
