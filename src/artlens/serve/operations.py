"""What the server records and how it chooses a version: the operations side of one app (issue 36).

Built by :func:`~artlens.serve.create_app` from :class:`~.config.ServeConfig`; every part is off unless
asked for, so a bare ``create_app()`` records nothing:

* ``db``: every answered prediction and detector verdict goes to :class:`artlens.ops.Store` (hashes,
  size, format, top-k, embedding; the image itself only with ``store_uploads``), ``POST /v1/feedback`` is offered, the
  background jobs are kept there, and aliases (``production``, ``candidate``) choose the version a
  request that names none gets; an alias changed by ``artlens models promote`` (another process) is
  seen within ``alias_refresh_s``, without a restart;
* ``ab``: requests that name no version are split between arms by a sticky hash of the client; weights
  an admin changes (``PUT /v1/admin/ab``) are stored, so every server on the database follows them
  (within ``alias_refresh_s``) and a restart keeps them;
* ``shadow``: another version scores every request too, its answer only logged;
* :class:`RateLimit`: feedback per client address per minute.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import ArtlensError
from ..ops import ABSplit, PredictionRecord, Store, open_store, perceptual_hash
from .config import ServeConfig
from .registry import LoadedModel, ModelEntry, ModelRegistry, UnknownModel
from .uploads import DecodedImage

__all__ = ["CLIENT_COOKIE", "Operations", "RateLimit", "client_id"]

log = logging.getLogger("artlens.serve")

#: The cookie that keeps a browser in one A/B arm (the ``X-Client-ID`` header does the same for scripts).
CLIENT_COOKIE = "artlens_client"
_CLIENT = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


def client_id(headers: Any, cookies: Any) -> tuple[str, bool]:
    """The client's id for sticky A/B arms: ``X-Client-ID``, else the cookie, else a new one
    (``True``: set the cookie in the answer)."""
    for given in (headers.get("x-client-id"), cookies.get(CLIENT_COOKIE)):
        if given and _CLIENT.match(given):
            return given, False
    return uuid.uuid4().hex, True


class RateLimit:
    """At most ``per_minute`` events per key in any 60 s window (a sliding log; a few keys per second)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            log_ = self._seen.setdefault(key, deque())
            while log_ and now - log_[0] > 60:
                log_.popleft()
            if len(log_) >= self.per_minute:
                return False
            log_.append(now)
            if len(self._seen) > 10_000:  # forget idle clients
                for k in [k for k, v in self._seen.items() if not v or now - v[-1] > 60]:
                    del self._seen[k]
            return True


class Operations:
    """The database, A/B splits, shadow models and feedback limit of one app."""

    def __init__(self, cfg: ServeConfig, registry: ModelRegistry) -> None:
        self.registry = registry
        self.store: Store | None = open_store(cfg.db) if cfg.db else None
        self.uploads = Path(cfg.store_uploads) if cfg.store_uploads else None
        if self.uploads is not None:
            if self.store is None:
                raise ArtlensError("--store-uploads needs --db: stored images are found through the database")
            self.uploads.mkdir(parents=True, exist_ok=True)
        self._ab: dict[str, ABSplit] = {}
        for spec in cfg.ab:
            split = ABSplit.parse(spec)
            self._ab[split.name] = split
        self._ab_given = dict(self._ab)  # as --ab gave them: stored weights must name the same arms
        self._ab_mismatch: set[str] = set()
        self.shadow: dict[str, list[str]] = {}
        for spec in cfg.shadow:
            name, sep, arm = spec.partition("=")
            if not sep or not name or not arm:
                raise ArtlensError(f"--shadow {spec!r}: expected NAME=ALIAS_OR_VERSION (e.g. styles=candidate)")
            self.shadow.setdefault(name, []).append(arm)
        if (self._ab or self.shadow) and self.store is None:
            raise ArtlensError("--ab and --shadow need --db: the arms and shadow answers are recorded there")
        self.feedback_limit = RateLimit(cfg.feedback_per_minute)
        self.alias_refresh_s = cfg.alias_refresh_s
        self._aliases: dict[str, dict[str, str]] = {}
        self._aliases_read = -1e9
        self._alias_lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artlens-ops")
        if self.store is not None:
            registry.alias_source = self.aliases
            lost = self.store.recover_jobs()
            if lost:
                log.warning("%d background jobs of a stopped server were marked failed", len(lost))
        for name, split in self._ab.items():  # every arm must exist now, not at the first visitor
            for arm, _ in split.arms:
                self.registry.resolve(f"{name}@{arm}")

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def aliases(self) -> dict[str, dict[str, str]]:
        """``{name: {alias: version}}`` from the database, re-read at most every ``alias_refresh_s``."""
        if self.store is None:
            return {}
        with self._alias_lock:
            if time.monotonic() - self._aliases_read > self.alias_refresh_s:
                try:
                    self._aliases = self.store.aliases()
                    if self._ab_given:
                        self._follow_ab_weights(self.store.ab_weights())
                except Exception:  # noqa: BLE001 - a database hiccup keeps the last known aliases
                    log.exception("reading model aliases failed; keeping the last ones")
                self._aliases_read = time.monotonic()
            return self._aliases

    @property
    def ab(self) -> dict[str, ABSplit]:
        """The running A/B tests, ``{name: split}``, with the weights last stored by any server."""
        self.aliases()  # the stored weights are re-read with the aliases
        return self._ab

    def _follow_ab_weights(self, stored: dict[str, dict[str, float]]) -> None:
        for name, weights in stored.items():
            given = self._ab_given.get(name)
            if given is None:
                continue
            if set(weights) != {arm for arm, _ in given.arms}:  # another --ab on this database; ours stands
                if name not in self._ab_mismatch:
                    self._ab_mismatch.add(name)
                    log.warning("the stored A/B weights of %s name other arms (%s) than --ab %s; using --ab",
                                name, ", ".join(sorted(weights)), given.to_text())
                continue
            self._ab[name] = given.with_weights(weights)

    def refresh_aliases(self) -> None:
        with self._alias_lock:
            self._aliases_read = -1e9

    # -- choosing the model ------------------------------------------------------------------------

    def choose(self, model: str, client: str) -> tuple[ModelEntry, str | None]:
        """The entry that answers a request naming ``model`` ("" = the default) from ``client``, and
        its A/B arm when the request named no version of a model under test."""
        base = model or self.registry.resolve(None).name
        splits = self.ab
        if "@" not in base and base in splits:
            arm = splits[base].arm(client)
            return self.registry.resolve(f"{base}@{arm}"), arm
        return self.registry.resolve(model or None), None

    def set_ab_weights(self, name: str, weights: dict[str, float]) -> ABSplit:
        """New weights for the A/B test on ``name`` (arms left out get 0), stored for every server on
        the database; a restarted server keeps them over its ``--ab`` weights."""
        if name not in self._ab:
            raise UnknownModel(f"no A/B test runs on {name!r}; running: {', '.join(self._ab) or 'none'}", 404)
        arms = [arm for arm, _ in self._ab[name].arms]
        unknown = sorted(set(weights) - set(arms))
        if unknown:
            raise ArtlensError(f"A/B test on {name!r}: no arm {', '.join(map(repr, unknown))}; "
                               f"its arms: {', '.join(arms)}")
        split = self._ab[name].with_weights(weights)
        with self._alias_lock:  # a re-read of the stored weights cannot land between the write and this
            if self.store is not None:
                self.store.set_ab_weights(name, dict(split.arms))
            self._ab[name] = split
        return split

    # -- recording ---------------------------------------------------------------------------------

    def record(self, *, request_id: str, model_id: str, classes: Sequence[str], answer: dict[str, Any], data: bytes,
               img: DecodedImage, embedding: Any, arm: str | None = None, client: str | None = None) -> None:
        """Log one answered request (in the caller's work thread): ``answer["predictions"]`` ranked as
        the client was told, best first, and ``classes`` the labels feedback may name (a style model's
        classes; ``ai``/``human`` for a detector). A database failure is logged, and the client still
        gets its answer."""
        if self.store is None:
            return
        sha = hashlib.sha256(data).hexdigest()
        path = None
        try:
            if self.uploads is not None:
                target = self.uploads / f"{sha}.{_EXT.get(img.format, 'img')}"
                if not target.exists():  # content-addressed: the same image sent twice is kept once
                    tmp = target.with_name(target.name + f".{uuid.uuid4().hex[:8]}.part")
                    tmp.write_bytes(data)
                    tmp.replace(target)
                path = str(target.resolve())
            self.store.record_prediction(PredictionRecord(
                request_id=request_id, model_id=model_id, top_k=answer["predictions"], classes=list(classes),
                uncertain=bool(answer.get("uncertain")), sha256=sha, phash=perceptual_hash(img.image),
                width=img.width, height=img.height, format=img.format, size_bytes=len(data), arm=arm,
                client=hashlib.sha256(client.encode()).hexdigest()[:16] if client else None, upload_path=path,
                embedding=embedding))
        except Exception:  # noqa: BLE001 - monitoring must never cost a visitor their answer
            log.exception("[%s] recording the prediction failed", request_id)

    def shadow_score(self, *, request_id: str, entry: ModelEntry, img: DecodedImage, top_k: int) -> list[str]:
        """Hand the image to the shadow versions of ``entry``'s model without waiting for them; each
        answer is logged when it comes. Returns the shadow model ids."""
        ids = []
        for arm in self.shadow.get(entry.name, []):
            try:
                other = self.registry.resolve(f"{entry.name}@{arm}")
            except UnknownModel as err:
                log.warning("shadow %s@%s: %s", entry.name, arm, err)
                continue
            if other.id == entry.id:
                continue
            loaded: LoadedModel = self.registry.loaded(other.id)
            future = loaded.batcher.submit(loaded.predictor.views(img.image))

            def done(f: Any, loaded: LoadedModel = loaded) -> None:
                if f.exception() is None:
                    probs = f.result()[0] if isinstance(f.result(), tuple) else f.result()
                    ranked = loaded.answer(probs, top_k)["predictions"]
                    self._background.submit(self._record_shadow, request_id, loaded.entry.id, ranked)

            future.add_done_callback(done)
            ids.append(other.id)
        return ids

    def _record_shadow(self, request_id: str, model_id: str, ranked: list[dict[str, Any]]) -> None:
        for _ in range(50):  # the primary's row is written by another thread: wait for it briefly
            if self.store is not None and self.store.prediction(request_id) is not None:
                break
            time.sleep(0.1)
        try:
            assert self.store is not None
            self.store.record_shadow(request_id, model_id, ranked)
        except Exception:  # noqa: BLE001
            log.exception("[%s] recording the shadow answer of %s failed", request_id, model_id)

    def close(self) -> None:
        self._background.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
