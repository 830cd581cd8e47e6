"""The operations database: every answered prediction, the feedback on it, background jobs and the
aliases that say which model version is served, in one SQLAlchemy database.

A museum team runs one server on a laptop and several behind a load balancer, so the database is any
SQLAlchemy URL: a plain path is a SQLite file (zero set-up, the default), ``postgresql://...`` is a
shared server. The schema is created and upgraded by Alembic migrations shipped in the package
(:mod:`artlens.ops.migrations`), at open, so a newer artlens upgrades an older database in place.

What a prediction row keeps is what monitoring and retraining need and no more: time, request id,
model id and A/B arm, the top-k labels with probabilities, a perceptual hash and a SHA-256 of the
image, its size and format, and (for drift) the model's embedding of it as float16 bytes (float32 beyond
float16's range); never the image itself unless the server stores uploads in a folder (``upload_path``).

>>> import tempfile, os
>>> store = open_store(os.path.join(tempfile.mkdtemp(), "ops.db"))
>>> store.record_prediction(PredictionRecord(request_id="r1", model_id="styles@2", classes=["Baroque", "Rococo"],
...     top_k=[{"label": "Rococo", "prob": 0.8}, {"label": "Baroque", "prob": 0.2}], sha256="0" * 64, phash="0" * 16,
...     width=640, height=480, format="JPEG", size_bytes=1000))
>>> store.add_feedback("r1", "Baroque").correct
False
>>> store.close()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (JSON, Boolean, Column, DateTime, Engine, Float, ForeignKey, Integer, LargeBinary, MetaData,
                        String, Table, Text, create_engine, event, func, insert, select, text, update)
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import ArtlensError
from .drift import compact_embeddings

__all__ = ["ALIASES", "FeedbackError", "FeedbackRecord", "PredictionRecord", "Store", "database_url",
           "default_database", "metadata", "open_store", "utcnow"]

#: The aliases a model name may carry: what serves by default, and what is being tried.
ALIASES = ("production", "candidate")

metadata = MetaData()

predictions = Table(
    "predictions", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created", DateTime, nullable=False, index=True),
    Column("model_id", String(170), nullable=False, index=True),
    Column("arm", String(32)),
    Column("client", String(64)),
    Column("top_k", JSON, nullable=False),
    Column("label", String(200), nullable=False),
    Column("prob", Float, nullable=False),
    Column("uncertain", Boolean, nullable=False, default=False),
    Column("classes", JSON),
    Column("sha256", String(64), nullable=False),
    Column("phash", String(16), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("format", String(16), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("upload_path", Text),
    Column("embedding", LargeBinary),
)

shadow_predictions = Table(
    "shadow_predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), ForeignKey("predictions.request_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created", DateTime, nullable=False),
    Column("model_id", String(170), nullable=False, index=True),
    Column("top_k", JSON, nullable=False),
    Column("label", String(200), nullable=False),
    Column("prob", Float, nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), ForeignKey("predictions.request_id", ondelete="CASCADE"), nullable=False,
           unique=True),
    Column("created", DateTime, nullable=False, index=True),
    Column("model_id", String(170), nullable=False, index=True),
    Column("predicted", String(200), nullable=False),
    Column("label", String(200), nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("client", String(64)),
)

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("created", Float, nullable=False),
    Column("started", Float),
    Column("finished", Float),
    Column("progress", Float, nullable=False, default=0.0),
    Column("message", Text, nullable=False, default=""),
    Column("error", Text),
    Column("request_id", String(64), nullable=False, default=""),
    Column("client", String(64), nullable=False, default=""),
    Column("estimate_s", Float, nullable=False, default=0.0),
    Column("info", JSON),
    Column("media_type", String(40), nullable=False, default="image/png"),
    Column("result", LargeBinary),
    Column("owner", String(120), nullable=False, default=""),
)

aliases = Table(
    "aliases", metadata,
    Column("name", String(100), primary_key=True),
    Column("alias", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("updated", DateTime, nullable=False),
)

#: The weights of each running A/B test as an admin last set them (``PUT /v1/admin/ab``): every server
#: sharing the database follows them, and a restarted one keeps them.
ab_weights = Table(
    "ab_weights", metadata,
    Column("name", String(100), primary_key=True),
    Column("weights", JSON, nullable=False),
    Column("updated", DateTime, nullable=False),
)

alias_history = Table(
    "alias_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime, nullable=False),
    Column("name", String(100), nullable=False, index=True),
    Column("alias", String(32), nullable=False),
    Column("action", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("previous", String(64)),
)


def utcnow() -> datetime:
    """Naive UTC: SQLite keeps no time zone, so every timestamp in the database is UTC by convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_database() -> str:
    """Where ``artlens serve`` records, and the ops commands read, when ``--db`` is not given: a SQLite file,
    ``$ARTLENS_DB`` or ``$XDG_DATA_HOME/artlens/ops.sqlite`` (``~/.local/share/artlens/ops.sqlite``)."""
    if os.environ.get("ARTLENS_DB"):
        return os.environ["ARTLENS_DB"]
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(data / "artlens" / "ops.sqlite")


def database_url(db: str | os.PathLike) -> str:
    """``--db`` as an SQLAlchemy URL: a path is a SQLite file; ``postgresql://`` uses psycopg 3."""
    text = str(db)
    if "://" not in text:
        path = Path(text).expanduser()
        if text == default_database():  # zero set-up: the default file's folder is made on first use
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent and not path.parent.is_dir():
            raise ArtlensError(f"--db {text}: folder {path.parent} does not exist")
        return f"sqlite:///{path.resolve()}"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


class FeedbackError(ArtlensError):
    """Feedback refused: ``status`` 404 (unknown request), 409 (already given), 422 (not a label)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PredictionRecord:
    """One answered prediction, as the server logs it."""

    request_id: str
    model_id: str
    top_k: list[dict[str, Any]]
    sha256: str
    phash: str
    width: int
    height: int
    format: str
    size_bytes: int
    classes: Sequence[str] = ()
    """The model's classes: feedback must name one of them."""
    uncertain: bool = False
    arm: str | None = None
    client: str | None = None
    upload_path: str | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)
    created: datetime | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    request_id: str
    model_id: str
    predicted: str
    label: str
    correct: bool
    created: datetime


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (monitor) never block the server's writes
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Store:
    """The operations database behind one engine; thread-safe (one short transaction per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._lock = threading.Lock()

    # -- predictions and feedback ------------------------------------------------------------------

    def record_prediction(self, rec: PredictionRecord) -> None:
        top = rec.top_k[0] if rec.top_k else {"label": "", "prob": 0.0}
        emb = None if rec.embedding is None else compact_embeddings(np.reshape(rec.embedding, -1)).tobytes()
        with self.engine.begin() as conn:
            conn.execute(insert(predictions).values(
                request_id=rec.request_id, created=rec.created or utcnow(), model_id=rec.model_id, arm=rec.arm,
                client=rec.client, top_k=rec.top_k, label=top["label"], prob=float(top["prob"]),
                uncertain=bool(rec.uncertain), classes=list(rec.classes), sha256=rec.sha256, phash=rec.phash,
                width=rec.width, height=rec.height, format=rec.format, size_bytes=rec.size_bytes,
                upload_path=rec.upload_path, embedding=emb))

    def record_shadow(self, request_id: str, model_id: str, top_k: list[dict[str, Any]]) -> None:
        """What a shadow model answered for a request (logged only; the client saw the primary's answer)."""
        with self.engine.begin() as conn:
            conn.execute(insert(shadow_predictions).values(
                request_id=request_id, created=utcnow(), model_id=model_id, top_k=top_k,
                label=top_k[0]["label"], prob=float(top_k[0]["prob"])))

    def prediction(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(predictions).where(predictions.c.request_id == request_id)).mappings().first()
        return dict(row) if row else None

    def add_feedback(self, request_id: str, label: str, *, client: str | None = None) -> FeedbackRecord:
        """Record what the right label was for an answered request (``"correct"``: the top-1 was right).

        The model is the one that answered: feedback cannot be pinned on another model or version.
        One feedback per request id (:class:`FeedbackError` 409 after that)."""
        pred = self.prediction(request_id)
        if pred is None:
            raise FeedbackError(f"unknown request id {request_id[:64]!r}: no prediction was recorded under it", 404)
        given = pred["label"] if label == "correct" else label
        classes = pred.get("classes") or []
        if classes and given not in classes:
            shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
            raise FeedbackError(f"label {label[:80]!r} is not one of {pred['model_id']}'s classes ({shown}) "
                                "nor 'correct'", 422)
        rec = FeedbackRecord(request_id=request_id, model_id=pred["model_id"], predicted=pred["label"], label=given,
                             correct=given == pred["label"], created=utcnow())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(feedback).values(request_id=rec.request_id, created=rec.created,
                                                     model_id=rec.model_id, predicted=rec.predicted, label=rec.label,
                                                     correct=rec.correct, client=client))
        except IntegrityError:
            raise FeedbackError(f"request {request_id} already has feedback (one per request)", 409) from None
        return rec

    def feedback_rows(self, *, model_id: str | None = None) -> list[dict[str, Any]]:
        """Every feedback joined with its prediction (time, arm, image hashes, stored upload)."""
        q = (select(feedback, predictions.c.arm, predictions.c.sha256, predictions.c.upload_path,
                    predictions.c.created.label("predicted_at"))
             .join(predictions, predictions.c.request_id == feedback.c.request_id).order_by(feedback.c.id))
        if model_id:
            q = q.where(feedback.c.model_id == model_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def prediction_rows(self, *, with_embeddings: bool = False, model_id: str | None = None) -> list[dict[str, Any]]:
        cols = [c for c in predictions.c if with_embeddings or c.name != "embedding"]
        q = select(*cols).order_by(predictions.c.created)
        if model_id:
            q = q.where(predictions.c.model_id == model_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def shadow_rows(self) -> list[dict[str, Any]]:
        q = (select(shadow_predictions, predictions.c.model_id.label("primary_model"),
                    predictions.c.label.label("primary_label"), feedback.c.label.label("true_label"))
             .join(predictions, predictions.c.request_id == shadow_predictions.c.request_id)
             .outerjoin(feedback, feedback.c.request_id == shadow_predictions.c.request_id))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                    for t in (predictions, feedback, shadow_predictions, jobs)}

    # -- aliases -----------------------------------------------------------------------------------

    def aliases(self) -> dict[str, dict[str, str]]:
        """``{name: {alias: version}}``."""
        out: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(aliases)).mappings():
                out.setdefault(r["name"], {})[r["alias"]] = r["version"]
        return out

    def set_alias(self, name: str, alias: str, version: str, *, action: str = "promote") -> str | None:
        """Point ``name@alias`` at ``version``; returns the version it pointed at before (or ``None``)."""
        if alias not in ALIASES:
            raise ArtlensError(f"alias {alias!r}: use one of {', '.join(ALIASES)}")
        with self._lock, self.engine.begin() as conn:
            before = conn.execute(select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
                                  ).scalar_one_or_none()
            if before is None:
                conn.execute(insert(aliases).values(name=name, alias=alias, version=version, updated=utcnow()))
            else:
                conn.execute(update(aliases).where(aliases.c.name == name, aliases.c.alias == alias)
                             .values(version=version, updated=utcnow()))
            conn.execute(insert(alias_history).values(created=utcnow(), name=name, alias=alias, action=action,
                                                      version=version, previous=before))
        return before

    def rollback(self, name: str, alias: str = "production") -> tuple[str, str]:
        """Point ``name@alias`` back at the version it had before the current one was promoted;
        repeated rollbacks walk further back. Returns ``(from_version, to_version)``."""
        current = self.aliases().get(name, {}).get(alias)
        if current is None:
            raise ArtlensError(f"{name}@{alias} is not set: nothing to roll back")
        with self.engine.connect() as conn:
            row = conn.execute(select(alias_history.c.previous)
                               .where(alias_history.c.name == name, alias_history.c.alias == alias,
                                      alias_history.c.action == "promote", alias_history.c.version == current)
                               .order_by(alias_history.c.id.desc()).limit(1)).first()
        if row is None or row[0] is None:
            raise ArtlensError(f"{name}@{alias} = {current} has no earlier version to roll back to")
        self.set_alias(name, alias, row[0], action="rollback")
        return current, row[0]

    def alias_log(self, name: str | None = None) -> list[dict[str, Any]]:
        q = select(alias_history).order_by(alias_history.c.id)
        if name:
            q = q.where(alias_history.c.name == name)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- A/B weights -------------------------------------------------------------------------------

    def ab_weights(self) -> dict[str, dict[str, float]]:
        """``{name: {arm: weight}}``, as last set by :meth:`set_ab_weights` (from any process)."""
        with self.engine.connect() as conn:
            return {r["name"]: {str(a): float(w) for a, w in r["weights"].items()}
                    for r in conn.execute(select(ab_weights)).mappings()}

    def set_ab_weights(self, name: str, weights: dict[str, float]) -> None:
        """Store the weights of the A/B test on ``name`` for every server sharing this database."""
        values = {"name": name, "weights": {str(a): float(w) for a, w in weights.items()}, "updated": utcnow()}
        with self._lock, self.engine.begin() as conn:
            _upsert(conn, ab_weights, values)

    # -- jobs --------------------------------------------------------------------------------------

    def save_job(self, job: dict[str, Any]) -> None:
        """Insert or update a job (its fields as :class:`artlens.serve.jobs.Job` has them)."""
        values = {c.name: job.get(c.name) for c in jobs.c if c.name in job}
        values["owner"] = _owner()
        with self._lock, self.engine.begin() as conn:
            _upsert(conn, jobs, values)

    def load_job(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return dict(row) if row else None

    def delete_job(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.delete().where(jobs.c.id == job_id))

    def purge_jobs(self, finished_before: float) -> int:
        """Delete the jobs that finished (done, failed or cancelled) before ``finished_before`` (a Unix
        time), results included: a result is an image, so without this the database only grows. Jobs
        still queued or running are never touched. Returns how many were deleted."""
        with self._lock, self.engine.begin() as conn:
            return conn.execute(jobs.delete().where(jobs.c.state.in_(("done", "failed", "cancelled")),
                                                    jobs.c.finished < finished_before)).rowcount

    def recover_jobs(self) -> list[str]:
        """Jobs a stopped server left queued or running (its process on this machine is gone) are
        marked failed, with a message saying so: a restart never leaves a client polling forever.
        Another live server's jobs (a shared database) are left alone."""
        host = socket.gethostname()
        lost = []
        with self.engine.connect() as conn:
            rows = conn.execute(select(jobs.c.id, jobs.c.owner).where(jobs.c.state.in_(("queued", "running"))))
            for job_id, owner in rows:
                owner_host, _, pid = (owner or "").rpartition(":")
                if owner_host == host and not _alive(int(pid) if pid.isdigit() else -1):
                    lost.append(job_id)
        if lost:
            with self.engine.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id.in_(lost)).values(
                    state="failed", message="failed", error="the server restarted before this job finished; "
                                                             "submit it again", finished=time.time()))
        return lost

    def close(self) -> None:
        self.engine.dispose()


def _upsert(conn: Any, table: Table, values: dict[str, Any]) -> None:
    """Update the row of ``table`` whose primary key ``values`` holds, or insert it (portable: SQLite
    and PostgreSQL spell ``ON CONFLICT`` through different dialect constructs). Callers hold the lock."""
    key = [c == values[c.name] for c in table.primary_key.columns]
    if not conn.execute(update(table).where(*key).values(**values)).rowcount:
        conn.execute(insert(table).values(**values))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return False  # this process has just started: whatever it owned belonged to an earlier life
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the migrations shipped in :mod:`artlens.ops.migrations`."""
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:  # its plugin and context lines are noise in every command's output
        alembic_log.setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # servers starting together on a new database migrate one at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(36036036)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def open_store(db: str | os.PathLike, *, upgrade: bool = True) -> Store:
    """Open (creating and migrating as needed) the operations database ``db``: a SQLite file path or
    an SQLAlchemy URL (``postgresql://user@host/dbname``)."""
    url = database_url(db)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        if upgrade:
            migrate(engine)
        with engine.connect():
            pass
    except OperationalError as err:
        engine.dispose()
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise ArtlensError(f"--db {engine.url.render_as_string(hide_password=True)}: cannot open the database "
                           f"({reason})") from None
    return Store(engine)


def iter_embeddings(rows: Sequence[dict[str, Any]], *, dims: int | None = None) -> Iterator[np.ndarray]:
    """The float32 embedding of each row that has one; with ``dims`` (the model's embedding size), rows
    stored in float32 (:func:`artlens.ops.drift.compact_embeddings`: their length tells them apart) are
    read as such, without it every row as float16."""
    for r in rows:
        if r.get("embedding"):
            raw = r["embedding"]
            dtype = np.float32 if dims is not None and len(raw) == 4 * dims else np.float16
            yield np.frombuffer(raw, dtype).astype(np.float32)


def to_json(value: Any) -> str:
    return json.dumps(value, default=str)
