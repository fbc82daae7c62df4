"""Rendering through a photo's camera: a `PhotoView` behind the `Camera` interface the renderer calls."""

from __future__ import annotations

import numpy as np

from avatar_engine.build.records import PhotoView


class PhotoCamera:
    """Duck-types `render.camera.Camera` (`view()`, `projection(aspect)`, `position`, `fov_y_deg`) for a PhotoView,
    whose `view` is a matrix field rather than a method."""

    def __init__(self, photo_view: PhotoView) -> None:
        self.photo_view = photo_view
        self.position = photo_view.position
        self.fov_y_deg = photo_view.fov_y_deg

    def view(self) -> np.ndarray:
        return self.photo_view.view.astype(np.float32)

    def projection(self, aspect: float) -> np.ndarray:
        return self.photo_view.projection(aspect)
