"""Feature-map overlays as in the Met study: the last conv block's activations summed over channels.

No class, no gradients: the map shows where the network *responds*, whatever it then decides. It
is written as a one-hook subclass of grad-cam's ``BaseCAM`` (every channel weighted 1), so it gets
the package's hooks, resizing, min-max normalisation and clean-up for free, and is picked like any
CAM method: ``artlens explain --method featuremap``.
"""

from __future__ import annotations

import numpy as np
from pytorch_grad_cam.base_cam import BaseCAM

__all__ = ["FeatureMapSum"]


class FeatureMapSum(BaseCAM):
    """Sum of the target layer's activations over channels (normalised to [0, 1] and upsampled)."""

    def __init__(self, model, target_layers, reshape_transform=None) -> None:
        super().__init__(model, target_layers, reshape_transform, uses_gradients=False)

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads) -> np.ndarray:
        return np.ones(activations.shape[:2], dtype=np.float32)
