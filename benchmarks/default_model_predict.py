"""Throughput of the built-in style model: ``artlens.Predictor`` on real paintings, CPU.

The issue's floor is 20 images/s on the 2-core CPU of the development machines. The model is
measured as it ships (the built-in one: no test-time augmentation, batch norms folded into the
convolutions and activations fused into oneDNN convolutions, as ``Predictor`` runs it:
``artlens.inference.inference_model``), beside it with the other of ``tta="none"`` and
``tta="flip"``, folded but not fused (the same answers), with its batch norms left apart
(``Predictor(fold=False)``: the same answers), and in bf16 (``Predictor(precision="bf16")``: some
answers change; on a CPU without native bf16 it is slower).
Same warm-up on every side (one full pass), then ``--repeats`` rounds of timed passes over the same
folder, each round timing every side once in turn, so that a busy moment of the shared CPU falls on
all of them; the median and the spread (min-max) are reported, with the thread count.

    python benchmarks/default_model_predict.py [--images 330 --repeats 5 --batch-size 16] [--model BUNDLE]

``--model`` measures another bundle the same way (a candidate for the built-in model, before it ships).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import cached_property
from pathlib import Path

import torch
from _common import spread, wikiart_subset

from artlens import Predictor
from artlens.inference import _cpu_has_bf16, inference_batch_size
from artlens.models import fold_batchnorm


def timed(predictors: dict[str, Predictor], folder: Path, batch_size: int | None, repeats: int) -> dict[str, list[float]]:
    """Images per second of each predictor's ``repeats`` passes, after one untimed pass each, alternating."""
    for predictor in predictors.values():
        predictor([folder], batch_size=batch_size)
    rates: dict[str, list[float]] = {label: [] for label in predictors}
    for _ in range(repeats):
        for label, predictor in predictors.items():
            start = time.perf_counter()
            results, _ = predictor([folder], batch_size=batch_size)
            rates[label].append(len(results) / (time.perf_counter() - start))
    return rates


class FoldedOnly(Predictor):
    """The shipped model with its batch norms folded, its activations not fused (``fuse_for_cpu`` left out)."""

    @cached_property
    def model(self):
        return fold_batchnorm(self.bundle.model.eval(), input_size=self.bundle.preprocessing.input_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=330)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=None, help="default: predict's own (16 on a CPU)")
    ap.add_argument("--model", default=None, help="a bundle folder (default: the built-in model)")
    args = ap.parse_args()
    batch = args.batch_size or inference_batch_size("cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, batches of {batch}, "
          f"native bf16: {'yes' if _cpu_has_bf16() else 'no'}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = wikiart_subset(Path(tmp) / "paintings", 11, max(1, args.images // 11))
        n = len(list(folder.rglob("*.jpg")))
        shipped = Predictor(args.model, device="cpu")
        other = Predictor(shipped.bundle, device="cpu", tta="flip" if shipped.tta == "none" else "none")
        not_fused = FoldedOnly(shipped.bundle, device="cpu")
        unfolded = Predictor(shipped.bundle, device="cpu", fold=False)
        bf16 = Predictor(shipped.bundle, device="cpu", precision="bf16")
        predictors = {f"as shipped (tta={shipped.tta})": shipped, f"tta={other.tta}": other,
                      f"tta={not_fused.tta}, folded, not fused": not_fused,
                      f"tta={unfolded.tta}, not folded": unfolded, f"tta={bf16.tta}, bf16": bf16}
        for label, rates in timed(predictors, folder, args.batch_size, args.repeats).items():
            print(f"{label:34s} {n} paintings x {args.repeats}: {spread(rates)}")


if __name__ == "__main__":
    main()
