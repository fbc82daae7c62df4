"""The skull as an occluder: an ellipsoid inside the head that the hair behind it is culled against.

Hair sheets are double-sided, so from the front a software rasteriser still covers the whole back of the hair
with four sheets of fragments, every one of them then hidden by the head (about a quarter of a frame's CPU
time for the densest hair). Each frame the renderer hands the vertex shader this ellipsoid, moved by the head
joint; a hair vertex whose view ray passes through it, and that lies beyond its middle, gets a negative clip
distance, and a triangle with three such vertices is dropped before it is rasterised. The ellipsoid lies inside
the skin whatever the expression, so what it hides the skin hides too: the picture does not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.hair_scalp import scalp_centre
from avatar_engine.records import Avatar

SAFETY = 0.95
"""The ellipsoid is shrunk by this factor below the nearest skin vertex (the skin between vertices lies a little
inside them)."""
AXIS_CONE_COS = 0.95
"""Skin vertices within this cone (cosine) of an axis set the ellipsoid's first guess along that axis."""


@dataclass(frozen=True)
class SkullOccluder:
    """An ellipsoid in the rest pose, axis-aligned, that rides on joint `joint`."""

    centre: np.ndarray
    """(3,) rest-space centre, metres."""
    axes: np.ndarray
    """(3,) semi-axes along x, y, z, metres."""
    joint: int

    def world_to_unit(self, joint_matrix: np.ndarray, model: np.ndarray) -> np.ndarray:
        """(4, 4) float32 from world space to the posed ellipsoid's unit-sphere space, given the joint's skinning
        matrix (posed x inverse bind) and the model matrix."""
        rest_to_unit = np.diag([*(1.0 / self.axes), 1.0])
        rest_to_unit[:3, 3] = -self.centre / self.axes
        world_from_rest = np.asarray(model, np.float64) @ np.asarray(joint_matrix, np.float64)
        return (rest_to_unit @ np.linalg.inv(world_from_rest)).astype(np.float32)


CENTRE_SEARCH_M = np.linspace(-0.03, 0.03, 7)
"""Offsets (up and back) of the centre tried around the first guess: the mouth's interior lies inside the head,
below and in front of the skull's middle, and an ellipsoid centred higher and further back can be larger."""


def _largest_ellipsoid(pulled: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """Semi-axes of the largest ellipsoid at the origin with every point of `pulled` (n, 3) outside it: `guess`'s
    proportions scaled until the nearest point touches it, then each axis grown in turn while none goes inside."""
    axes = guess * np.linalg.norm(pulled / guess, axis=1).min()
    for _ in range(3):
        for k in range(3):
            q = (pulled / axes) ** 2
            rest = q.sum(axis=1) - q[:, k]
            limited = rest < 1.0
            if limited.any():
                axes[k] *= np.sqrt(q[limited, k] / (1.0 - rest[limited])).min()
    return axes


def skull_occluder(avatar: Avatar) -> SkullOccluder | None:
    """The largest ellipsoid (of a few centres tried) inside the skull that every skin vertex stays outside of
    under any single expression at full weight; None when the avatar has no skin or no head joint."""
    names = avatar.skeleton.names
    skin = [p for p in avatar.parts if avatar.materials[p.material].kind == "skin"]
    if not skin or "head" not in names:
        return None
    positions = np.concatenate([p.positions for p in skin]).astype(np.float64)
    reach = np.concatenate([np.linalg.norm(p.morph_positions, axis=2).max(axis=0) if len(p.morph_positions)
                            else np.zeros(p.vertex_count) for p in skin])
    rest = avatar.skeleton.rest_positions.astype(np.float64)
    if "eye_L" in names and "eye_R" in names:
        first = scalp_centre({n: rest[names.index(n)] for n in ("eye_L", "eye_R")})
    else:
        first = positions.mean(axis=0)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for up in CENTRE_SEARCH_M:
        for back in CENTRE_SEARCH_M:
            centre = first + np.array([0.0, up, -back])
            offsets = positions - centre
            distance = np.linalg.norm(offsets, axis=1)
            # every vertex where its largest expression brings it nearest
            pulled = offsets * (np.maximum(distance - reach, 1e-6) / np.maximum(distance, 1e-9))[:, None]
            unit = offsets / np.maximum(distance, 1e-9)[:, None]
            guess = np.empty(3)
            for k in range(3):
                along = np.abs(unit[:, k]) >= AXIS_CONE_COS
                if k == 1:  # below the skull is the neck's opening: only the crown sets the height
                    along &= unit[:, 1] > 0
                guess[k] = np.linalg.norm(pulled[along], axis=1).min() if along.any() else 0.0
            if np.any(guess <= 0):
                continue
            axes = _largest_ellipsoid(pulled, guess)
            if best is None or np.prod(axes) > best[0]:
                best = (float(np.prod(axes)), centre, axes)
    if best is None:
        return None
    return SkullOccluder(centre=best[1].astype(np.float32), axes=(best[2] * SAFETY).astype(np.float32),
                         joint=names.index("head"))
