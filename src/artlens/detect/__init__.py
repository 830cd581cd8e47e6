"""Human or AI? A detector, and audits that show whether a detector's accuracy is real.

* :func:`detect` (:class:`DetectConfig`) - a verdict and the probability of AI per image, from the
  built-in detector or any bundle trained with an origin label (:class:`Detector`)
* :func:`choose_threshold`, :func:`score_origins` - the threshold for balanced accuracy, and the scores
* :func:`run_audit` (:class:`AuditConfig`) - the shortcut audit: how well each metadata feature (size,
  format, JPEG tables, EXIF, ...) alone predicts the label, and with a bundle the counterfactual test
  (:func:`counterfactual_test`: its score after each :data:`INTERVENTIONS` removes a suspected shortcut)
* :func:`run_cross_generator` (:class:`CrossGeneratorConfig`) - trained on some generators, scored on
  each, as a matrix

>>> from artlens.detect import origin_of
>>> origin_of("AI_SD_impressionism")
'ai'
"""

from .detector import (DEFAULT_DETECTOR, DetectConfig, Detection, Detector, DetectReport, ThresholdChoice,
                       choose_threshold, default_detector_path, detect, score_origins, write_detector_meta)
from .audit import AuditConfig, AuditReport, feature_scores, run_audit
from .counterfactual import DEFAULT_INTERVENTIONS, counterfactual_test
from .generators import CrossGeneratorConfig, CrossGeneratorReport, run_cross_generator
from .interventions import INTERVENTIONS, Intervention, apply_intervention
from .metadata import FEATURES, estimate_jpeg_quality, image_metadata
from .origin import LABEL_MODES, ORIGINS, generator_of, origin_classes, origin_of, relabel

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_INTERVENTIONS",
    "FEATURES",
    "INTERVENTIONS",
    "AuditConfig",
    "AuditReport",
    "CrossGeneratorConfig",
    "CrossGeneratorReport",
    "Intervention",
    "apply_intervention",
    "counterfactual_test",
    "estimate_jpeg_quality",
    "feature_scores",
    "image_metadata",
    "run_audit",
    "run_cross_generator",
    "LABEL_MODES",
    "ORIGINS",
    "DetectConfig",
    "DetectReport",
    "Detection",
    "Detector",
    "ThresholdChoice",
    "choose_threshold",
    "default_detector_path",
    "detect",
    "generator_of",
    "origin_classes",
    "origin_of",
    "relabel",
    "score_origins",
    "write_detector_meta",
]
