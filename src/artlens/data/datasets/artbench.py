"""ArtBench-10 (Liao et al. 2022): the 256 px ImageFolder release and the 32 px CIFAR-style python release."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...errors import ArtlensError
from ..samples import Sample, label_folder_samples
from ._base import AdapterResult, DatasetAdapter

__all__ = ["ADAPTER", "ARTBENCH_STYLES", "load_artbench10"]

ARTBENCH_STYLES = ("art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "realism",
                   "renaissance", "romanticism", "surrealism", "ukiyo_e")


def _as_list(dataset: str, option: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise ArtlensError(f"dataset {dataset!r}: option {option} must be a list of names, got {value!r}")


def _keep_classes(dataset: str, samples: list[Sample], classes: Any) -> list[Sample]:
    """Keep only the labels in ``classes`` (all when ``None``); unknown names are an error."""
    if classes is None:
        return samples
    wanted = _as_list(dataset, "classes", classes)
    present = sorted({s.label for s in samples})
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ArtlensError(f"dataset {dataset!r}: option classes names {', '.join(missing)} not in the data; "
                           f"available: {', '.join(present)}")
    return [s for s in samples if s.label in set(wanted)]


def load_artbench10(root: Path, *, classes: Sequence[str] | str | None = None,
                    cache_dir: str | None = None) -> AdapterResult:
    """ArtBench-10: splits from ``train/`` and ``test/`` (or the python batches), labels = styles."""
    batches = _artbench_batches_dir(root)
    if batches is not None:
        samples = _artbench_python_samples(batches, Path(cache_dir) if cache_dir else
                                           Path.home() / ".cache" / "artlens" / "artbench10-32px")
        return AdapterResult(_keep_classes("artbench10", samples, classes))
    base = root / "artbench-10-imagefolder-split" if (root / "artbench-10-imagefolder-split").is_dir() else root
    splits = [s for s in ("train", "test") if (base / s).is_dir()]
    if not splits:
        raise ADAPTER.wrong_root(root, "no train/ or test/ folder")
    samples = [s for split in splits for s in label_folder_samples(base / split, split)]
    if not samples:
        raise ADAPTER.wrong_root(root, "no images in train/<style>/ or test/<style>/")
    return AdapterResult(_keep_classes("artbench10", samples, classes))


ADAPTER = DatasetAdapter("artbench10",
                         "ArtBench-10: ImageFolder release (256 px) or CIFAR-style python release (32 px)",
                         "artbench-10-imagefolder-split/{train,test}/<style>/*.jpg, or "
                         "artbench-10-python/artbench-10-batches-py/{data_batch_1..5,test_batch,meta} "
                         "(the folder or a parent)",
                         load_artbench10,
                         {"classes": "list of styles to keep, e.g. [ukiyo_e, surrealism]",
                          "cache_dir": "python release: where its 32 px images are written as PNGs once "
                                       "(default ~/.cache/artlens/artbench10-32px)"})


_ARTBENCH_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _artbench_batches_dir(root: Path) -> Path | None:
    for candidate in (root, root / "artbench-10-batches-py", root / "artbench-10-python" / "artbench-10-batches-py"):
        if (candidate / "meta").is_file() and (candidate / "test_batch").is_file():
            return candidate
    return None


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-style batches (dicts, lists, numpy arrays) and refuses anything else.

    The python release of ArtBench-10 is a set of pickles; a plain ``pickle.load`` would run any
    code a tampered file names, so only the handful of constructors numpy arrays need are allowed.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path, data: bytes | None = None) -> dict[str, Any]:
    try:
        with (io.BytesIO(data) if data is not None else path.open("rb")) as f:
            raw = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as err:
        raise ArtlensError(f"{path}: not a safe ArtBench/CIFAR batch ({err})") from None
    if not isinstance(raw, dict):
        raise ArtlensError(f"{path}: expected a dict batch, found {type(raw).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _artbench_python_samples(batches: Path, cache: Path) -> list[Sample]:
    """Write each 32x32 image once as ``cache/<split>/<style>/<batch>-<digest>_<i>.png`` and list them.

    The digest (of the batch file's bytes) ties each PNG to the batch it came from: the default cache
    is shared by every copy of the release on the machine, and a name made of split, style and index
    alone handed one copy's pixels to another. PNGs are written under a temporary name and renamed,
    so an interrupted first run leaves no half-written file to be reused.
    """
    import numpy as np
    from PIL import Image

    styles = [s.decode() if isinstance(s, bytes) else str(s) for s in _read_batch(batches / "meta")["styles"]]
    samples: list[Sample] = []
    for name in _ARTBENCH_BATCHES:
        path = batches / name
        if not path.is_file():
            raise ArtlensError(f"{batches}: missing {name} of the ArtBench-10 python release")
        split = "test" if name == "test_batch" else "train"
        data = path.read_bytes()
        batch = _read_batch(path, data)
        digest = hashlib.sha256(data).hexdigest()[:12]
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        for i, (img, label) in enumerate(zip(images, batch["labels"])):
            out = cache / split / styles[label] / f"{name}-{digest}_{i:05d}.png"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
                Image.fromarray(img).save(tmp, format="PNG")
                os.replace(tmp, out)
            samples.append(Sample(str(out), styles[label], split))
    return samples
