"""A/B tests of model versions: a sticky split of clients between arms, and whether the arms differ.

``artlens serve --ab styles=production:0.9,candidate:0.1`` sends each client to one arm for good: the
arm is chosen by a hash of the client's id (a cookie or the ``X-Client-ID`` header) and the model name,
so a visitor sees one version however often they come back, and the shares over many visitors are
close to the weights. ``artlens monitor`` then compares the arms' accuracy from feedback, each with a
Wilson interval, and says whether the difference is significant (a two-proportion z-test).

>>> split = ABSplit.parse("styles=production:0.9,candidate:0.1")
>>> split.arm("visitor-42") == split.arm("visitor-42")
True
>>> round(compare_arms({"production": (80, 100), "candidate": (90, 100)})["p_value"], 3)
0.048
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from scipy.stats import norm

from ..errors import ArtlensError
from ..evaluate.metrics import proportion_interval

__all__ = ["ABSplit", "compare_arms", "wilson_interval"]

_ARM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@dataclass(frozen=True)
class ABSplit:
    """Which versions (aliases or versions) of model ``name`` share the traffic, and in what proportion."""

    name: str
    arms: tuple[tuple[str, float], ...]

    @classmethod
    def parse(cls, text: str) -> ABSplit:
        """``NAME=ARM:WEIGHT,ARM:WEIGHT`` (an arm is an alias such as ``candidate`` or a version)."""
        name, sep, rest = text.partition("=")
        if not sep or not name:
            raise ArtlensError(f"--ab {text!r}: expected NAME=ARM:WEIGHT,ARM:WEIGHT (e.g. styles=production:0.9,candidate:0.1)")
        arms = []
        for part in rest.split(","):
            arm, sep, weight = part.partition(":")
            try:
                w = float(weight)
            except ValueError:
                w = -1.0
            if not sep or not _ARM.match(arm) or not (w >= 0 and math.isfinite(w)):
                raise ArtlensError(f"--ab {text!r}: {part!r} is not ARM:WEIGHT with a weight >= 0")
            arms.append((arm, w))
        total = sum(w for _, w in arms)
        if len(arms) < 2 or total <= 0 or len({a for a, _ in arms}) != len(arms):
            raise ArtlensError(f"--ab {text!r}: give two or more different arms whose weights add up to more than 0")
        return cls(name=name, arms=tuple((a, w / total) for a, w in arms))

    def with_weights(self, weights: dict[str, float]) -> ABSplit:
        """The same arms with new weights (an admin changes the split without a restart)."""
        return ABSplit.parse(f"{self.name}=" + ",".join(f"{a}:{weights.get(a, 0.0)}" for a, _ in self.arms))

    def arm(self, client: str) -> str:
        """The client's arm: the same for the same client and model, whatever the weights' order."""
        digest = hashlib.sha256(f"{self.name}\0{client}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        edge = 0.0
        for arm, weight in self.arms:
            edge += weight
            if u < edge:
                return arm
        return self.arms[-1][0]

    def to_text(self) -> str:
        return f"{self.name}=" + ",".join(f"{a}:{w:g}" for a, w in self.arms)


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (:func:`artlens.evaluate.proportion_interval`)."""
    return proportion_interval(correct, n, confidence)


def compare_arms(counts: dict[str, tuple[int, int]], *, alpha: float = 0.05) -> dict[str, Any]:
    """Accuracy per arm (``{arm: (correct, n)}``) with 95 % intervals; for two arms, the two-proportion
    z-test of their difference and whether it is significant at ``alpha``."""
    arms = {a: {"correct": c, "n": n, "accuracy": c / n if n else None, "ci95": wilson_interval(c, n)}
            for a, (c, n) in counts.items()}
    out: dict[str, Any] = {"arms": arms, "p_value": None, "significant": False}
    measured = [(a, c, n) for a, (c, n) in counts.items() if n]
    if len(measured) == 2:
        (_, c1, n1), (_, c2, n2) = measured
        pooled = (c1 + c2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if se > 0:
            z = (c1 / n1 - c2 / n2) / se
            out["p_value"] = float(2 * norm.sf(abs(z)))
            out["significant"] = out["p_value"] < alpha
        else:
            out["p_value"] = 1.0
    return out
