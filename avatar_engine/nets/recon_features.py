"""What the reconstruction network reads and predicts, and how both mirror.

Input: MediaPipe's 468 face-mesh points and their relative depth in the face frame of the landmark correction
(`LandmarkCorrection.shape`: a 2-D similarity onto the mean MediaPipe face, inter-ocular distance 1), a
(INPUTS,) vector. The network folds the correction's principal components into its first layer.
Output (OUTPUTS,): the head model's identity (6 phenotypes, 139 shape changes, `HeadModel.identity_names` order),
the 52 ARKit weights of the photo's expression, and the head's yaw, pitch and roll in degrees (`euler_rotation`).

A mirrored photo is a new training sample: MediaPipe's points swap through the correspondence asset's
left/right pairs, the identity's left/right shape changes swap (sideways ones change sign), the expression's
Left/Right shapes swap, and the yaw and roll change sign.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from avatar_engine.build.landmark_model import LandmarkCorrection
from avatar_engine.build.perception import _score_mirror, landmark_mirror
from avatar_engine.head.model import HeadModel

POINTS = 468
INPUTS = POINTS * 3
EXPRESSIONS = 52
POSE = ("yaw_deg", "pitch_deg", "roll_deg")
MIRROR_MATCH = 0.9
"""A shape change's mirror image must correlate at least this well with its partner (or with itself)."""


def recon_input(points_px: np.ndarray, depth: np.ndarray, correction: LandmarkCorrection | None = None
                ) -> np.ndarray:
    """points_px : (>=468, 2) pixels, depth : (>=468,) MediaPipe's relative depth -> (INPUTS,) float32."""
    correction = correction or LandmarkCorrection.default()
    if correction.depth_weight <= 0 or correction.shape_mean.shape != (INPUTS,):
        raise ValueError("the reconstruction network needs a landmark correction made with MediaPipe's depth")
    return correction.shape(np.asarray(points_px, np.float64), np.asarray(depth, np.float64))[0].astype(np.float32)


def mirror_perceived(points_px: np.ndarray, depth: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's (478, 2) points and (478,) depth as they would be on the photo mirrored left/right."""
    mirror = landmark_mirror()
    points = np.asarray(points_px, np.float64)[mirror].copy()
    points[:, 0] = width - points[:, 0]
    return points, np.asarray(depth, np.float64)[mirror]


@cache
def identity_mirror(model: HeadModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(p,) index of each identity parameter's mirror partner and (p,) its sign (-1 for sideways changes).

    Found from the head model itself: a change's +1 offsets, reflected in the x = 0 plane, are matched against
    every change's offsets (or their negation). Phenotypes are their own partners.
    """
    model = model or HeadModel.default()
    pos = model.positions.astype(np.float64)
    reflected = pos * [-1, 1, 1]
    # each vertex's mirror vertex: the one at its reflection, to a tenth of a millimetre (the mesh is symmetric);
    # vertices without one are left out of the comparison
    keys = {k: i for i, k in enumerate(map(tuple, np.round(pos / 1e-4).astype(np.int64)))}
    found = [keys.get(k, -1) for k in map(tuple, np.round(reflected / 1e-4).astype(np.int64))]
    mirror_vertex = np.array(found)
    keep = mirror_vertex >= 0
    fields = model.change_offsets[:, 0][:, keep].astype(np.float64)  # (c, m, 3)
    flipped = model.change_offsets[:, 0][:, mirror_vertex[keep]].astype(np.float64) * [-1, 1, 1]
    flat, flat_flipped = fields.reshape(len(fields), -1), flipped.reshape(len(fields), -1)
    norms = np.linalg.norm(flat, axis=1) + 1e-12
    corr = (flat_flipped @ flat.T) / np.outer(np.linalg.norm(flat_flipped, axis=1) + 1e-12, norms)
    n_phen = len(model.phenotype_names)
    partner = np.arange(n_phen + len(fields))
    sign = np.ones(n_phen + len(fields))
    for c in range(len(fields)):
        best = c if abs(corr[c, c]) >= MIRROR_MATCH else int(np.argmax(np.abs(corr[c])))
        if abs(corr[c, best]) < MIRROR_MATCH:
            # a change whose mirror image is nothing in the model: keep it, unflipped
            continue
        partner[n_phen + c] = n_phen + best
        sign[n_phen + c] = np.sign(corr[c, best])
    return partner, sign


def mirror_targets(targets: np.ndarray, model: HeadModel | None = None) -> np.ndarray:
    """(n, OUTPUTS) targets -> those of the mirrored photos."""
    partner, sign = identity_mirror(model)
    p = len(partner)
    out = np.empty_like(targets)
    out[:, :p] = targets[:, partner] * sign
    out[:, p:p + EXPRESSIONS] = targets[:, p:p + EXPRESSIONS][:, _score_mirror()]
    out[:, p + EXPRESSIONS:] = targets[:, p + EXPRESSIONS:] * [-1, 1, -1]  # yaw and roll flip, pitch stays
    return out


def outputs_count(model: HeadModel | None = None) -> int:
    model = model or HeadModel.default()
    return len(model.identity_names) + EXPRESSIONS + len(POSE)
