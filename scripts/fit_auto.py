#!/usr/bin/env python
"""Fit the model behind ``route="auto"`` on labelled real prompts, and report how well it generalises.

From the repository root, with the labelled set beside the checkout (``../shared/routing-dev``)::

    .venv/bin/pip install -e '.[fit]'
    .venv/bin/python scripts/fit_auto.py            # prints the figures, writes the shipped weights
    .venv/bin/python scripts/fit_auto.py --check    # refits; fails if the shipped weights differ

The model: logistic regression (scikit-learn, L2, ``C``) over the features of
:mod:`costaware.core.routing.features` (words and symbols scaled by ``1/sqrt(count)``; topics and
shapes in full). Only features seen in prompts of at least two source families are kept, so that a
benchmark's template wording ("Pick one category for the following text") cannot carry the decision.
Rows are weighted so that each source family weighs about the square root of its size, and the classes
are balanced.

Figures printed, all from models that never saw the rows they score:

- leave-one-source-out (the ``source`` field: ``snips/GetWeather``, ``agieval/math`` ...): for each
  source, a model fitted on all the others scores it;
- leave-one-family-out (``snips``, ``P3``, ``agieval`` ...): harsher, a whole benchmark is unseen;
- the curve: for several settings of ``quality``, the share of hard prompts sent to a non-cheap tier
  and of easy prompts kept on the cheap one.

The shipped weights (``src/costaware/core/routing/auto_weights.json``) are then fitted on every row.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from costaware.core.routing.classifier import (  # noqa: E402
    LARGE_SHARE,
    WEIGHTS_FILE,
    AutoModel,
    assess,
    cutoffs_for,
)
from costaware.core.routing.features import ask_window, features, is_dense  # noqa: E402

DATA = ROOT.parent / "shared" / "routing-dev"
C = 2.0
MIN_FAMILIES = 2
QUALITIES = (0.3, 0.4, 0.5, 0.55, 0.56, 0.58, 0.6, 0.65, 0.7, 0.8, 0.9)


def load(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("hard.jsonl", "easy.jsonl"):
        with (folder / name).open(encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines if line.strip()]
    for row in rows:
        row["features"] = features(ask_window(row["prompt"]))
        row["family"] = row["source"].split("/", 1)[0]
        row["y"] = 1 if row["label"] == "hard" else 0
    return rows


def fit(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Weights fitted on ``rows``: ``{"bias": float, "weights": {feature: float}}``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    seen: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows:
        for feature in row["features"]:
            seen[feature].add(row["family"])
    vocabulary = sorted(f for f, families in seen.items() if len(families) >= MIN_FAMILIES)
    index = {f: i for i, f in enumerate(vocabulary)}
    sizes = Counter(row["family"] for row in rows)
    weights = np.array([1.0 / math.sqrt(sizes[row["family"]]) for row in rows])
    weights *= len(rows) / weights.sum()
    model = LogisticRegression(C=C, max_iter=100_000, tol=1e-8, class_weight="balanced")
    model.fit(_matrix(rows, index), [row["y"] for row in rows], sample_weight=weights)
    coefficients = model.coef_[0]
    return {
        "bias": round(float(model.intercept_[0]), 6),
        "weights": {f: round(float(coefficients[i]), 6) for f, i in index.items()},
    }


def _matrix(rows: Sequence[dict[str, Any]], index: dict[str, int]) -> Any:
    import numpy as np

    matrix = np.zeros((len(rows), len(index)))
    for r, row in enumerate(rows):
        words = [index[f] for f in row["features"] if f in index and not is_dense(f)]
        for column in words:
            matrix[r, column] = 1.0 / math.sqrt(len(words))
        for f in row["features"]:
            if f in index and is_dense(f):
                matrix[r, index[f]] = 1.0
    return matrix


def probability(model: dict[str, Any], prompt: str) -> float:
    """The fitted model's probability that a prompt, sent as one user turn, is hard: through the
    classifier's own code (:func:`costaware.core.routing.classifier.assess`), so what is reported is
    what runs."""
    weights = model["weights"]
    fitted = AutoModel(
        model["bias"],
        {f: w for f, w in weights.items() if not is_dense(f)},
        {f: w for f, w in weights.items() if is_dense(f)},
    )
    return assess(fitted, {"messages": [{"role": "user", "content": prompt}]}).p


def held_out(rows: list[dict[str, Any]], key: str) -> list[float]:
    """Each row's probability from a model fitted without its ``key`` group."""
    out = [0.0] * len(rows)
    for group in sorted({row[key] for row in rows}):
        model = fit([row for row in rows if row[key] != group])
        for i, row in enumerate(rows):
            if row[key] == group:
                out[i] = probability(model, row["prompt"])
    return out


def curve(rows: list[dict[str, Any]], probabilities: list[float]) -> list[dict[str, float]]:
    points = []
    for quality in QUALITIES:
        medium, large = cutoffs_for(quality, 3)
        hard = [p >= medium for row, p in zip(rows, probabilities, strict=True) if row["y"]]
        easy = [p < medium for row, p in zip(rows, probabilities, strict=True) if not row["y"]]
        top = [p >= large for row, p in zip(rows, probabilities, strict=True) if row["y"]]
        points.append(
            {
                "quality": quality,
                "hard_to_non_cheap": round(sum(hard) / len(hard), 3),
                "easy_to_cheap": round(sum(easy) / len(easy), 3),
                "hard_to_large": round(sum(top) / len(top), 3),
            }
        )
    return points


def per_source(rows: list[dict[str, Any]], probabilities: list[float], quality: float) -> dict[str, float]:
    medium, _ = cutoffs_for(quality, 3)
    right: defaultdict[str, list[bool]] = defaultdict(list)
    for row, p in zip(rows, probabilities, strict=True):
        right[row["source"]].append((p >= medium) == bool(row["y"]))
    return {source: round(sum(v) / len(v), 3) for source, v in sorted(right.items())}


def report(rows: list[dict[str, Any]], default: float) -> dict[str, Any]:
    by_source = held_out(rows, "source")
    by_family = held_out(rows, "family")
    result = {
        "rows": len(rows),
        "leave_one_source_out": curve(rows, by_source),
        "leave_one_family_out": curve(rows, by_family),
        "per_source_at_default": per_source(rows, by_source, default),
    }
    for name in ("leave_one_source_out", "leave_one_family_out"):
        print(f"\n{name.replace('_', '-')}: quality  hard->non-cheap  easy->cheap  hard->large")
        for point in result[name]:
            mark = "  <- default" if point["quality"] == default else ""
            print(
                f"  {point['quality']:>6.2f}  {point['hard_to_non_cheap']:>15.3f}  "
                f"{point['easy_to_cheap']:>11.3f}  {point['hard_to_large']:>11.3f}{mark}"
            )
    worst = sorted(result["per_source_at_default"].items(), key=lambda kv: kv[1])[:6]
    print("\nleave-one-source-out, the six hardest sources at the default:")
    for source, share in worst:
        print(f"  {share:.3f}  {source}")
    return result


def main(argv: list[str] | None = None) -> int:
    from costaware.core.routing.classifier import DEFAULT_QUALITY

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with hard.jsonl and easy.jsonl")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--check", action="store_true", help="refit and compare with --out; write nothing")
    parser.add_argument("--no-report", action="store_true", help="skip the held-out figures (fast)")
    args = parser.parse_args(argv)

    rows = load(args.data)
    model = fit(rows)
    if args.check:
        shipped = json.loads(args.out.read_text(encoding="utf-8"))
        same = shipped["bias"] == model["bias"] and shipped["weights"] == model["weights"]
        drift = max(
            (abs(shipped["weights"].get(f, 0.0) - w) for f, w in model["weights"].items()), default=0.0
        )
        print(f"{args.out}: {'reproduced' if same else f'differs (largest weight change {drift:.2e})'}")
        return 0 if same or (drift < 1e-4 and set(shipped["weights"]) == set(model["weights"])) else 1
    figures = {} if args.no_report else report(rows, DEFAULT_QUALITY)
    document = {
        "about": (
            "Weights of route='auto' (costaware.core.routing.classifier), fitted by scripts/fit_auto.py "
            "on the labelled real prompts of routing-dev; see that script for the method."
        ),
        "fitted_on": dict(sorted(Counter(row["source"] for row in rows).items())),
        "C": C,
        "min_families": MIN_FAMILIES,
        "large_share": LARGE_SHARE,
        "held_out": figures,
        "bias": model["bias"],
        "weights": model["weights"],
    }
    args.out.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}: {len(model['weights'])} features")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
