"""Data: image loading that never crashes, collections and splits, published dataset layouts, profiles,
transforms.

>>> from artlens.data import DATASETS
>>> "artbench10" in DATASETS
True
"""

from .dataset import (
    SPLITS,
    Collection,
    ImageDataset,
    Sample,
    apply_label_map,
    collate_skipping,
    discover,
    limit_per_class,
    load_collection,
    read_manifest,
    stratified_split,
)
from .datasets import DATASETS, describe_datasets, load_dataset
from .profile import profile_collection, write_split_manifest
from .images import SkippedImage, UnreadableImage, iter_image_files, load_image, scan_images, to_rgb
from .transforms import AUGMENT_PRESETS, Preprocessing, build_transform

__all__ = [
    "DATASETS",
    "AUGMENT_PRESETS",
    "SPLITS",
    "Collection",
    "ImageDataset",
    "Preprocessing",
    "Sample",
    "SkippedImage",
    "UnreadableImage",
    "apply_label_map",
    "build_transform",
    "collate_skipping",
    "describe_datasets",
    "discover",
    "iter_image_files",
    "limit_per_class",
    "load_collection",
    "load_dataset",
    "load_image",
    "profile_collection",
    "read_manifest",
    "scan_images",
    "stratified_split",
    "to_rgb",
    "write_split_manifest",
]
