"""Summary statistics of repeated runs (mean and sample standard deviation)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    mean: float
    sd: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "sd": self.sd}

    def fmt(self, digits: int = 2) -> str:
        return f"{self.mean:.{digits}f}±{self.sd:.{digits}f}"


def summarize(values: Sequence[float]) -> Summary:
    """Mean and sample SD (n-1), as the seed reports; SD is 0 for a single run."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(mean, 0.0, 1)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return Summary(mean, math.sqrt(var), n)
