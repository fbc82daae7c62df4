"""Head pose from face landmarks the way MediaPipe's face geometry pipeline computes it, in numpy.

MediaPipe's face landmarker returns a facial transformation matrix: its canonical face mesh (centimetres) to the
camera, found by a weighted Procrustes fit of that mesh to the landmarks lifted into metric space through a
perspective camera (63 degree vertical field of view). The mesh and the Procrustes weights ship in
face_landmarker.task as `geometry_pipeline_metadata_landmarks.binarypb`; this module reads them with a small
protobuf wire-format reader (no MediaPipe needed) and repeats the pipeline's two-pass metric lifting.

    geometry = FaceGeometry.from_task(task_path)
    pose = geometry.pose(points, (w, h))      # points : (>= 468, 3) normalised landmarks -> (4, 4)
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.errors import ModelError
from avatar_engine.head.geometry import similarity_fit

METADATA_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"
VERTICAL_FOV_DEG = 63.0
"""The face landmarker's perspective camera (its environment: near 1, far 10000, origin at the top left)."""
NEAR = 1.0
MESH_POINTS = 468


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of one protobuf message: ints, float32s and byte strings."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = struct.unpack_from("<f", data, i)[0], i + 4
        elif wire == 1:
            value, i = struct.unpack_from("<d", data, i)[0], i + 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _repeated(fields, number: int, dtype: str) -> np.ndarray:
    """A repeated numeric field, packed or not: float32 (`dtype` "<f4") or varints (`dtype` "varint")."""
    values = []
    for n, wire, value in fields:
        if n != number:
            continue
        if wire != 2:
            values.append(value)
        elif dtype == "varint":
            i = 0
            while i < len(value):
                v, i = _varint(value, i)
                values.append(v)
        else:
            values.extend(np.frombuffer(value, dtype))
    return np.asarray(values, np.float64 if dtype != "varint" else np.int64)


def read_geometry_metadata(task_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's canonical face from face_landmarker.task: (468, 3) vertices (cm), (t, 3) triangles and (468,)
    Procrustes weights (GeometryPipelineMetadata: 1 canonical_mesh (Mesh3d: 3 vertex_buffer of x y z u v,
    4 index_buffer), 2 procrustes_landmark_basis (1 landmark_id, 2 weight)). ModelError when unreadable."""
    try:
        with zipfile.ZipFile(task_path) as archive:
            data = archive.read(METADATA_MEMBER)
        top = _fields(data)
        mesh = _fields(next(v for n, w, v in top if n == 1 and w == 2))
        vertices = _repeated(mesh, 3, "<f4").reshape(-1, 5)[:, :3]
        triangles = _repeated(mesh, 4, "varint").reshape(-1, 3)
        weights = np.zeros(len(vertices))
        for n, w, v in top:
            if n == 2 and w == 2:
                entry = dict((k, val) for k, _, val in _fields(v))
                weights[int(entry.get(1, 0))] = float(entry.get(2, 0.0))
    except (OSError, KeyError, StopIteration, ValueError, IndexError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{task_path}: no readable face geometry metadata ({exc})") from None
    if vertices.shape != (MESH_POINTS, 3) or not weights.any():
        raise ModelError(f"{task_path}: face geometry metadata has {len(vertices)} vertices, "
                         f"expected {MESH_POINTS}")
    return vertices, triangles, weights


@dataclass(frozen=True)
class FaceGeometry:
    canonical: np.ndarray
    """(468, 3) MediaPipe's canonical face mesh, centimetres."""
    weights: np.ndarray
    """(468,) Procrustes weight per landmark (most are 0)."""

    @classmethod
    def from_task(cls, task_path: Path) -> "FaceGeometry":
        vertices, _, weights = read_geometry_metadata(task_path)
        return cls(vertices, weights)

    def pose(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(4, 4) float32 canonical face (cm) -> camera (looking down -z), as MediaPipe's landmarker reports it.
        points : (>= 468, 3) landmarks, x and y normalised to the image, z on the scale of x; size : (w, h)."""
        w, h = size
        half_h = NEAR * np.tan(np.radians(VERTICAL_FOV_DEG) / 2)
        half_w = half_h * w / h
        screen = np.asarray(points[:MESH_POINTS], np.float64).copy()
        screen[:, 1] = 1.0 - screen[:, 1]  # origin at the top left
        screen *= np.array([2 * half_w, 2 * half_h, 2 * half_w])
        screen[:, :2] -= np.array([half_w, half_h])
        depth_offset = screen[:, 2].mean()

        used = np.flatnonzero(self.weights)  # only the Procrustes basis (33 points) has weight
        source, weights = self.canonical[used], self.weights[used]
        screen = screen[used]

        def scale_of(landmarks: np.ndarray) -> float:
            return similarity_fit(source, landmarks, weights=weights)[0]

        def lifted(scale: float) -> np.ndarray:
            out = screen.copy()
            out[:, 2] = (out[:, 2] - depth_offset + NEAR) / scale
            out[:, :2] *= out[:, 2:3] / NEAR
            out[:, 2] *= -1
            return out

        first = screen * np.array([1.0, 1.0, -1.0])
        s1 = scale_of(first)
        s2 = scale_of(lifted(s1))
        scale, rotation, translation = similarity_fit(source, lifted(s1 * s2), weights=weights)
        out = np.eye(4, dtype=np.float32)
        out[:3, :3], out[:3, 3] = scale * rotation, translation
        return out
