"""MediaPipe's selfie segmenter (Tasks API ImageSegmenter) behind a numpy interface.

    with PersonSegmenter() as segmenter:
        person = segmenter.segment(rgb)     # rgb : (h, w, 3) uint8 -> (h, w) float32 in [0, 1]

The model is `selfie_segmentation.tflite` from the model registry (a local path may be given instead). MediaPipe is
imported when a segmenter is made, never at import time; its types never leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.errors import BackendError, ModelError

MODEL_NAME = "selfie_segmentation"
"""Registry name of the model used when `SegmenterOptions.model_path` is None."""
INSTALL_HINT = "install the tracking extra: pip install 'avatar-engine[track]' (mediapipe==1.2.2)"


@dataclass(frozen=True)
class SegmenterOptions:
    """How the segmenter is made."""

    model_path: Path | None = None
    """The `selfie_segmentation.tflite` model; None takes the verified copy from the model registry."""


class PersonSegmenter:
    """Person-versus-background probability per pixel for one photo at a time. A context manager."""

    def __init__(self, options: SegmenterOptions | None = None) -> None:
        self.options = options or SegmenterOptions()
        self._task = None
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as exc:
            raise BackendError(f"the person segmenter needs MediaPipe ({exc}); {INSTALL_HINT}") from None
        self._mp = mp
        path = self._resolve_model_path()
        mp_options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True, output_category_mask=False)
        try:
            self._task = vision.ImageSegmenter.create_from_options(mp_options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"MediaPipe could not load the segmentation model {path}: {exc}") from None

    def _resolve_model_path(self) -> Path:
        from avatar_engine.assets.registry import model_file

        return model_file(MODEL_NAME, self.options.model_path, "segmentation")

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """rgb : (h, w, 3) uint8 -> (h, w) float32 probability that each pixel shows the person."""
        if self._task is None:
            raise RuntimeError("this PersonSegmenter is closed")
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (h, w, 3) uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._task.segment(image)
        masks = result.confidence_masks
        if not masks:
            raise ModelError("the segmentation model returned no confidence mask")
        # selfie_segmentation has one output: the person's confidence
        person = np.array(masks[-1].numpy_view(), np.float32).reshape(rgb.shape[:2])
        return np.clip(person, 0.0, 1.0)

    # --- lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Free MediaPipe's graph; safe to call twice."""
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self) -> "PersonSegmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
