"""Kept for imports written before :mod:`artlens.data.datasets` (one module per dataset family) existed."""

from .datasets import DATASETS, AdapterResult, DatasetAdapter, describe_datasets, load_dataset

__all__ = ["DATASETS", "AdapterResult", "DatasetAdapter", "describe_datasets", "load_dataset"]
