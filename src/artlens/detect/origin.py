"""Who made an image, read from its label: ``ai`` or ``human``, and which generator.

Collections name their folders differently: the Cezanne set has ``ai_sd15_cezanne_guidance8`` and
``human_replica_of_cezanne``, AI-ArtBench ``AI_LD_baroque`` beside a human ``baroque`` (or, with
``label: origin``, just ``AI`` and ``human``). One reading serves them all, so the audit, the
counterfactual test and the cross-generator matrix agree on what "AI" means.

>>> origin_of("ai_sd15_cezanne_guidance8"), origin_of("human_replica_of_cezanne"), origin_of("AI")
('ai', 'human', 'ai')
>>> generator_of("ai_sd2_textual_inversion_cezanne"), generator_of("AI_LD_baroque"), generator_of("human_baroque")
('sd2', 'LD', None)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ArtlensError

__all__ = ["LABEL_MODES", "ORIGINS", "generator_of", "origin_classes", "origin_of", "relabel"]

#: The two origins, in the order a detector bundle's classes are sorted (``ai`` first).
ORIGINS = ("ai", "human")
#: How the audit reads a collection's labels: as they are, or reduced to their origin.
LABEL_MODES = ("label", "origin")


def origin_of(label: str) -> str | None:
    """``ai`` or ``human`` for a label that says which (``ai``, ``AI_SD_x``, ``human_x``), else ``None``."""
    low = label.lower()
    for origin in ORIGINS:
        if low == origin or low.startswith(origin + "_") or low.startswith(origin + "-"):
            return origin
    return None


def generator_of(label: str) -> str | None:
    """The generator an AI label names (the word after ``ai_``: ``sd15``, ``LD``), or ``None`` for a
    human label or an AI label that names none."""
    if origin_of(label) != "ai":
        return None
    parts = label.replace("-", "_").split("_")
    return parts[1] if len(parts) > 2 else None


def relabel(labels: Sequence[str], mode: str, *, where: str = "") -> list[str]:
    """``labels`` as ``mode`` reads them: unchanged, or as origins (every label must name one)."""
    if mode == "label":
        return list(labels)
    if mode != "origin":
        raise ArtlensError(f"label mode {mode!r} is not allowed; choose from: {', '.join(LABEL_MODES)}")
    out = [origin_of(label) for label in labels]
    unknown = sorted({label for label, o in zip(labels, out) if o is None})
    if unknown:
        raise ArtlensError(f"{where + ': ' if where else ''}labels that name no origin: {', '.join(unknown[:5])} "
                           "(an origin label is ai or human, or starts with ai_ or human_)")
    return [o for o in out if o is not None]


def origin_classes(classes: Sequence[str]) -> dict[str, int] | None:
    """``{"ai": i, "human": j}``: the class indices of a bundle trained with an origin label, or ``None``
    when its classes are not exactly one AI and one human class (``AI``/``human`` count too)."""
    if len(classes) != 2:
        return None
    found = {origin_of(c): i for i, c in enumerate(classes) if c.lower() in ORIGINS}
    return found if set(found) == set(ORIGINS) else None  # type: ignore[return-value]
