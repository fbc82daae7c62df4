"""The head model restricted to MediaPipe's 468 landmark points, with derivatives: what the fit evaluates.

Each landmark is a barycentric point on a head-model triangle (`assets/head/mediapipe_correspondence.npz`), so
its position is linear in every basis the head model has: phenotype basis, shape changes, expression targets.
Evaluating only these points (instead of 6412 vertices) keeps one Gauss-Newton step to a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from avatar_engine.data_files import asset_path
from avatar_engine.head.model import HeadModel

CORRESPONDENCE_PATH = asset_path("head", "mediapipe_correspondence.npz")
SPREAD_FLOOR_M = 0.002
"""A landmark whose position varies by this much across views (metres) gets weight 1/sqrt(2)."""
PHENOTYPE_STEP = 1e-3
"""Finite-difference step for the (multilinear, not linear) phenotype derivatives."""


@dataclass(frozen=True)
class Correspondence:
    """Where MediaPipe's face-mesh points lie on the head model's surface."""

    triangles: np.ndarray
    """triangles : (468, 3) int head-model vertex ids of each landmark's triangle."""
    barycentric: np.ndarray
    """barycentric : (468, 3) float32 coordinates in that triangle."""
    weights: np.ndarray
    """weights : (468,) float64 in (0, 1]: how firmly MediaPipe pins each point (low on the face's silhouette)."""
    contour: np.ndarray
    """contour : (k,) int the face-oval landmarks (silhouette points that slide with the view)."""
    neutral_scores: np.ndarray
    """neutral_scores : (52,) float32 MediaPipe's scores on our neutral head: its bias on our faces."""

    @staticmethod
    @cache
    def default() -> "Correspondence":
        with np.load(CORRESPONDENCE_PATH) as d:
            spread = d["spread"].astype(np.float64)
            return Correspondence(
                triangles=d["triangles"].astype(np.int64), barycentric=d["barycentric"].astype(np.float32),
                weights=SPREAD_FLOOR_M / np.sqrt(SPREAD_FLOOR_M ** 2 + spread ** 2),
                contour=d["contour"].astype(np.int64), neutral_scores=d["neutral_scores"].astype(np.float32))

    def points(self, positions: np.ndarray) -> np.ndarray:
        """positions : (n, 3) head-model vertices -> (468, 3) landmark points on that surface."""
        return np.einsum("lk,lkj->lj", self.barycentric, positions[self.triangles])


class LandmarkModel:
    """Landmark points as a function of identity and expression, and their derivatives.

    Parameters are packed as one vector: 6 phenotypes, c shape changes, 52 expression weights.
    """

    def __init__(self, model: HeadModel, correspondence: Correspondence) -> None:
        self.model = model
        self.corr = correspondence
        b, tri = correspondence.barycentric.astype(np.float64), correspondence.triangles

        def on_landmarks(field: np.ndarray) -> np.ndarray:  # (..., n, 3) -> (..., 468 * 3), contiguous rows
            out = np.einsum("lk,...lkj->...lj", b, field[..., tri, :].astype(np.float64))
            return np.ascontiguousarray(out.reshape(out.shape[:-2] + (-1,)))

        self.base = on_landmarks(model.positions)
        self.phenotype_basis = on_landmarks(model.phenotype_basis)
        self.change_plus = on_landmarks(model.change_offsets[:, 0])
        self.change_minus = on_landmarks(model.change_offsets[:, 1])
        self.expression = on_landmarks(model.expression_offsets)
        self.n_phen = len(model.phenotype_names)
        self.n_change = len(model.change_names)
        self.size = self.n_phen + self.n_change + 52
        self.count = len(tri)

    def unseen_changes(self, below_m: float) -> np.ndarray:
        """(c,) bool: the shape changes that move no landmark point by `below_m` or more at full weight either way
        (the ears' shapes, the neck's, the skull's height behind the hairline): no photo's landmarks tell them.
        A left / right pair counts as unseen only when both sides are, so the two stay alike."""
        reach = np.maximum(*(np.linalg.norm(side.reshape(self.n_change, -1, 3), axis=2).max(axis=1)
                             for side in (self.change_plus, self.change_minus)))
        index = {n: i for i, n in enumerate(self.model.change_names)}
        twins = [index.get({"l-": "r-", "r-": "l-"}.get(n[:2], "") + n[2:], i) for n, i in index.items()]
        return np.maximum(reach, reach[twins]) < below_m

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, c = self.n_phen, self.n_phen + self.n_change
        return params[:p], params[p:c], params[c:]

    def identity(self, params: np.ndarray) -> dict[str, float]:
        phen, change, _ = self.split(params)
        return {**{n: float(v) for n, v in zip(self.model.phenotype_names, phen)},
                **{n: float(v) for n, v in zip(self.model.change_names, change)}}

    def _phenotype_coeffs(self, phen: np.ndarray) -> np.ndarray:
        # the head model's multilinear grid weights; private to HeadModel but the fit needs them per landmark
        nodes, w = self.model._phenotype_coefficients(dict(zip(self.model.phenotype_names, phen)))
        return w @ self.model.phenotype_node_coeffs[nodes]

    def points(self, params: np.ndarray) -> np.ndarray:
        """(468, 3) landmark points for packed parameters."""
        phen, change, expr = self.split(params)
        flat = (self.base + self._phenotype_coeffs(phen) @ self.phenotype_basis
                + np.maximum(change, 0) @ self.change_plus + np.maximum(-change, 0) @ self.change_minus
                + expr @ self.expression)
        return flat.reshape(-1, 3)

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        """(468, 3, size) derivative of `points` with respect to the packed parameters.

        Shape changes are piecewise linear (a +1 and a -1 target); at exactly 0 the mean slope is used.
        """
        phen, change, _ = self.split(params)
        coeff_rows = []
        for k in range(self.n_phen):
            hi, lo = phen.copy(), phen.copy()
            hi[k] = min(hi[k] + PHENOTYPE_STEP, 1.0)
            lo[k] = max(lo[k] - PHENOTYPE_STEP, 0.0)
            coeff_rows.append((self._phenotype_coeffs(hi) - self._phenotype_coeffs(lo)) / max(hi[k] - lo[k], 1e-9))
        slope = np.where((change > 0)[:, None], self.change_plus,
                         np.where((change < 0)[:, None], -self.change_minus,
                                  0.5 * (self.change_plus - self.change_minus)))
        jac = np.concatenate([np.array(coeff_rows) @ self.phenotype_basis, slope, self.expression])  # (size, 1404)
        return np.ascontiguousarray(jac.T).reshape(self.count, 3, self.size)


CORRECTION_PATH = CORRESPONDENCE_PATH.with_name("landmark_correction.npz")


def similarity_2d(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with target ~ s * R @ source + t in the plane. source, target : (n, 2) float."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    u, sig, vt = np.linalg.svd(xt.T @ xs)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sig) @ d) / (xs ** 2).sum())
    return scale, rotation, mu_t - scale * rotation @ mu_s


@dataclass(frozen=True)
class LandmarkCorrection:
    """What MediaPipe's landmarks on a face say about our correspondence points and the identity behind them.

    Learnt by `scripts/make_landmark_correction.py` from renders of random identities whose true landmark points
    are known. MediaPipe's 468 points are put in a face frame (2-D similarity onto `reference`) and described by
    their first k principal components; two ridge regressions from those features give (a) the offset from
    MediaPipe's point to the true correspondence point, in the face frame, and (b) a prior mean for every identity
    parameter, with the regression's cross-validated error as its standard deviation.
    """

    reference: np.ndarray
    """reference : (468, 2) float64 mean MediaPipe face in the face frame (inter-ocular distance 1)."""
    shape_mean: np.ndarray
    """shape_mean : (936,) float64 mean face-frame shape; shape_basis : (k, 936) its principal directions."""
    shape_basis: np.ndarray
    feature_mean: np.ndarray
    """feature_mean, feature_scale : (k,) standardisation of the principal coordinates."""
    feature_scale: np.ndarray
    offset_mean: np.ndarray
    """offset_mean : (936,) and offset_coef : (k, 936): offset = offset_mean + features @ offset_coef."""
    offset_coef: np.ndarray
    identity_names: tuple[str, ...]
    identity_mean: np.ndarray
    """identity_mean : (p,) and identity_coef : (k, p): identity prior mean = identity_mean + features @ coef."""
    identity_coef: np.ndarray
    identity_sigma: np.ndarray
    """identity_sigma : (p,) cross-validated standard deviation of the identity prediction."""
    offset_sigma: np.ndarray | None = None
    """offset_sigma : (468,) held-out rms distance of each corrected point from the true one (inter-ocular units):
    how far the fit may trust it."""
    depth_weight: float = 0.0
    """When > 0 the shape also holds MediaPipe's relative depth of the 468 points (face-frame units, centred) times
    this weight: shape_mean and shape_basis are then (1404,) and (k, 1404)."""

    @staticmethod
    @cache
    def default() -> "LandmarkCorrection":
        return LandmarkCorrection.load(CORRECTION_PATH)

    @staticmethod
    def load(path: Path) -> "LandmarkCorrection":
        """Read an asset written by scripts/make_landmark_correction.py."""
        with np.load(path) as d:
            arrays = {k: d[k] for k in d.files if k not in ("identity_names", "training")}
            names = tuple(str(n) for n in d["identity_names"])
        return LandmarkCorrection.from_arrays(arrays, names)

    @staticmethod
    def from_arrays(arrays: dict[str, np.ndarray], identity_names: tuple[str, ...]) -> "LandmarkCorrection":
        """A correction from the script's named arrays (as `train` returns them or an asset holds them); arrays that
        are not fields (the refit's `light_weight`) are left out."""
        fields = LandmarkCorrection.__dataclass_fields__
        depth_weight = float(arrays.get("depth_weight", 0.0))
        return LandmarkCorrection(identity_names=tuple(identity_names), depth_weight=depth_weight,
                                  **{k: np.asarray(v, np.float64) for k, v in arrays.items()
                                     if k in fields and k not in ("identity_names", "depth_weight")})

    def shape(self, points_px: np.ndarray, depth: np.ndarray | None = None
              ) -> tuple[np.ndarray, tuple[float, np.ndarray, np.ndarray]]:
        """The face-frame shape vector of MediaPipe's points (and depth) and the 2-D similarity into the frame.

        points_px : (468, 2) pixels; depth : (468,) MediaPipe's relative depth in pixels (needed when the asset
        uses depth).
        """
        points = np.asarray(points_px[:468], np.float64)
        frame = similarity_2d(points, self.reference)
        s, r, t = frame
        vector = (s * points @ r.T + t).ravel()
        if self.depth_weight > 0:
            if depth is None:
                raise ValueError("this landmark correction needs MediaPipe's depth (Perception.depth)")
            z = np.asarray(depth[:468], np.float64)
            vector = np.concatenate([vector, (z - z.mean()) * s * self.depth_weight])
        return vector, frame

    def _features(self, points: np.ndarray, depth: np.ndarray | None
                  ) -> tuple[np.ndarray, tuple[float, np.ndarray, np.ndarray]]:
        vector, frame = self.shape(points, depth)
        z = (vector - self.shape_mean) @ self.shape_basis.T
        return (z - self.feature_mean) / self.feature_scale, frame

    def landmarks(self, points_px: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
        """points_px : (468, 2) MediaPipe's points in pixels -> (468, 2) estimated correspondence points."""
        features, (s, r, t) = self._features(points_px, depth)
        offset = (self.offset_mean + features @ self.offset_coef).reshape(-1, 2)
        return points_px[:468] + offset @ r / s  # the face frame's rotation and scale undone

    def identity_prior(self, points_px: np.ndarray, names: tuple[str, ...], depth: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(p,) prior mean and (p,) standard deviation of the identity parameters `names` (the asset's order)."""
        if tuple(names) != self.identity_names:
            raise ValueError("landmark correction asset was made for another head model; re-run "
                             "scripts/make_landmark_correction.py")
        features, _ = self._features(points_px, depth)
        return self.identity_mean + features @ self.identity_coef, self.identity_sigma.copy()
