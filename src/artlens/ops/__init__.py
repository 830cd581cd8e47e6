"""Operations: keep a served model honest.

What ``artlens serve --db`` records and ``artlens monitor`` reads: every answered prediction and the
feedback on it (:mod:`.store`, SQLAlchemy with Alembic migrations: a SQLite file by default, any
SQLAlchemy URL such as PostgreSQL for several servers), model aliases for promotion and rollback,
persisted background jobs, input drift against a reference kept in the bundle (:mod:`.drift`), A/B
splits and their statistics (:mod:`.ab`), the monitoring report (:mod:`.monitor`) and the export of
corrected examples for retraining (:mod:`.export`).

>>> import tempfile, os
>>> store = open_store(os.path.join(tempfile.mkdtemp(), "ops.db"))
>>> store.set_alias("styles", "production", "2") is None
True
>>> store.aliases()
{'styles': {'production': '2'}}
"""

from ..data.dedupe import perceptual_hash
from .ab import ABSplit, compare_arms, wilson_interval
from .drift import (AUC_THRESHOLD, DRIFT_THRESHOLD, add_drift_reference, drift_reference, drift_score, embed_images, reference_from_images,
                    set_class_shares, size_format_drift, store_drift_reference)
from .export import ExportConfig, export_feedback
from .monitor import MonitorConfig, MonitorReport, run_monitor
from .store import (ALIASES, FeedbackError, FeedbackRecord, PredictionRecord, Store, database_url, default_database,
                    iter_embeddings,
                    open_store)

__all__ = [
    "ALIASES",
    "AUC_THRESHOLD",
    "DRIFT_THRESHOLD",
    "ABSplit",
    "ExportConfig",
    "FeedbackError",
    "FeedbackRecord",
    "MonitorConfig",
    "MonitorReport",
    "PredictionRecord",
    "Store",
    "add_drift_reference",
    "compare_arms",
    "database_url",
    "default_database",
    "drift_reference",
    "drift_score",
    "embed_images",
    "export_feedback",
    "iter_embeddings",
    "open_store",
    "perceptual_hash",
    "reference_from_images",
    "run_monitor",
    "set_class_shares",
    "size_format_drift",
    "store_drift_reference",
    "wilson_interval",
]
