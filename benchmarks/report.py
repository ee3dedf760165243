"""One JSON line per figure, the format every benchmark prints (STYLE.md, "Benchmarks")."""

from __future__ import annotations

import json
from typing import Any


def emit(
    case: str, metric: str, value: float, unit: str, baseline: str | None = None, base: float | None = None
) -> None:
    """Print a figure; with a baseline measured in the same run, also its value and ``value / base``."""
    line: dict[str, Any] = {"case": case, "metric": metric, "value": round(value, 4), "unit": unit}
    if baseline is not None and base is not None:
        ratio = round(value / base, 4) if base else None
        line |= {"baseline": baseline, "baseline_value": round(base, 4), "ratio": ratio}
    print(json.dumps(line), flush=True)
