"""Diffusion: a class-conditional denoiser, the diffusion process, training on any dataset, and the
zero-shot classifier of Li et al. ("Your Diffusion Model is Secretly a Zero-Shot Classifier"), fast.

* :class:`ClassUNet` / :class:`UNetConfig` — the denoiser (``unet.py``);
* :class:`GaussianDiffusion` — schedules (:data:`SCHEDULES`), loss, class errors, DDIM (``process.py``);
* :func:`train_diffusion` — training on the generative engine, bundle ``model.safetensors`` + ``artlens.json``
  with task ``diffusion`` (``train.py``);
* :func:`estimate_errors`, :func:`class_errors`, :func:`naive_class_errors` — the estimators (``zeroshot.py``);
* :func:`classify_diffusion` — cost up front, resumable scoring, calibration, the evaluation report
  (``classify.py``).

>>> from artlens.diffusion import SCHEDULES
>>> SCHEDULES.names()
['linear', 'cosine']
"""

from .classify import ClassifyCost, DiffusionClassifyConfig, DiffusionClassifyResult, classify_diffusion
from .process import PREDICTIONS, SCHEDULES, GaussianDiffusion, stratified_timesteps
from .train import (DiffusionModel, DiffusionTask, DiffusionTrainConfig, load_diffusion_bundle, load_images,
                    save_diffusion_bundle, split_collection, to_model_range, train_diffusion)
from .unet import ClassUNet, UNetConfig
from .zeroshot import (ImageScore, Stage, auto_keep, class_errors, errors_to_logits, estimate_errors,
                       naive_class_errors, plan_stages)

__all__ = [
    "PREDICTIONS",
    "SCHEDULES",
    "ClassUNet",
    "ClassifyCost",
    "DiffusionClassifyConfig",
    "DiffusionClassifyResult",
    "DiffusionModel",
    "DiffusionTask",
    "DiffusionTrainConfig",
    "GaussianDiffusion",
    "ImageScore",
    "Stage",
    "UNetConfig",
    "auto_keep",
    "class_errors",
    "classify_diffusion",
    "errors_to_logits",
    "estimate_errors",
    "load_diffusion_bundle",
    "load_images",
    "naive_class_errors",
    "plan_stages",
    "save_diffusion_bundle",
    "split_collection",
    "stratified_timesteps",
    "to_model_range",
    "train_diffusion",
]
