"""Generate `assets/head/mediapipe_correspondence.npz`: where MediaPipe's 468 face-mesh points lie on our head.

    python scripts/make_correspondence.py        # needs mediapipe and a GL context (EGL); ~1 min on 2 cores
    python scripts/make_correspondence.py --scores-only   # only `neutral_scores`, the rest kept (a few seconds)

Method: render the default (bald, neutral) head from a grid of views with our renderer, run MediaPipe's face
landmarker on each render, cast each landmark's pixel ray back onto the head and average the 3-D hits over the
views; the average is snapped onto the skin surface and stored as (triangle, barycentric coordinates), so it
follows any identity and expression of the head model. The spread of the hits across views says how well
MediaPipe pins each point (silhouette points slide) and becomes the fit's per-point weight.

Also stored, computed from MediaPipe's own data rather than typed in:
- `mirror` (478,): each landmark's left/right partner, from the canonical face mesh in the .task bundle
  (x -> -x, nearest vertex) and, for the 10 iris points, from a detection (offsets from the iris centre);
- `contour` (k,): the face-oval points, the boundary loop of the canonical mesh's triangles;
- `neutral_scores` (52,): the blend-shape scores MediaPipe gives our neutral head (its biases on our renders).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatar_engine.assets.registry import model_path
from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.head.geometry import boundary_loops
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import template_avatar
from avatar_engine.perception import FaceLandmarker
from avatar_engine.perception.face_geometry import read_geometry_metadata
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "head" / "mediapipe_correspondence.npz"
SIZE = 512
YAWS = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
PITCHES = (-8.0, 4.0, 14.0)
CAMERA = dict(distance=0.55, target=(0.0, 0.10, 0.05), fov_y_deg=24.0)


def canonical_mesh() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face: (468, 3) vertices (cm) and (t, 3) triangles, from the .task bundle."""
    vertices, triangles, _ = read_geometry_metadata(model_path("face_landmarker.task"))
    return vertices, triangles


def mirror_pairs(vertices: np.ndarray) -> np.ndarray:
    """(468,) index of the vertex nearest each vertex's reflection x -> -x."""
    reflected = vertices * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(reflected[:, None] - vertices[None], axis=2)
    mirror = d.argmin(1)
    assert (mirror[mirror] == np.arange(len(vertices))).all(), "the canonical mesh is not symmetric"
    assert d.min(1).max() < 0.05, f"a reflected vertex is {d.min(1).max():.3f} cm from any vertex"
    return mirror


def boundary_loop(triangles: np.ndarray) -> np.ndarray:
    """Vertices on edges used by only one triangle of the face mesh, excluding the eye and mouth holes' edges
    (the longest loop is the face oval)."""
    return max(boundary_loops(triangles), key=len)


def iris_mirror(points: np.ndarray) -> np.ndarray:
    """Partners of the 10 iris points (468..477): centre to centre, ring points by their mirrored offsets."""
    mirror = np.arange(10) + 468
    centres = (468, 473)
    for a, b in (centres, centres[::-1]):
        mirror[a - 468] = b
        offsets_a = points[a + 1:a + 5, :2] - points[a, :2]
        offsets_b = points[b + 1:b + 5, :2] - points[b, :2]
        match = np.linalg.norm((offsets_a * [-1, 1])[:, None] - offsets_b[None], axis=2).argmin(1)
        assert len(set(match)) == 4, "iris ring points do not pair up one to one"
        mirror[a + 1 - 468:a + 5 - 468] = b + 1 + match
    return mirror


# --- ray casting ------------------------------------------------------------------------------------------------
def pixel_rays(camera: Camera, xy: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """xy : (n, 2) normalised image coordinates -> ray origin (3,) and unit directions (n, 3) in model space."""
    view = camera.view().astype(np.float64)
    t = np.tan(np.radians(camera.fov_y_deg) / 2)
    d = np.stack([(2 * xy[:, 0] - 1) * t * aspect, (1 - 2 * xy[:, 1]) * t, -np.ones(len(xy))], 1)
    d = d @ view[:3, :3]  # camera -> model: R^T d
    return camera.position.astype(np.float64), d / np.linalg.norm(d, axis=1, keepdims=True)


def ray_hits(origin: np.ndarray, dirs: np.ndarray, v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Nearest hit of each ray on the mesh (Moller-Trumbore), (n, 3); NaN where a ray misses."""
    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    e1, e2 = b - a, c - a
    out = np.full((len(dirs), 3), np.nan)
    for i, d in enumerate(dirs):
        p = np.cross(d, e2)
        det = (e1 * p).sum(1)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1), 0)
        s = origin - a
        u = (s * p).sum(1) * inv
        q = np.cross(s, e1)
        w = (q @ d) * inv
        t = (q * e2).sum(1) * inv
        hit = ok & (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
        if hit.any():
            out[i] = origin + d * t[hit].min()
    return out


def closest_on_surface(points: np.ndarray, v: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Snap points onto the mesh: (n,) triangle ids and (n, 3) barycentric coordinates (clamped, summing to 1)."""
    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    e1, e2 = b - a, c - a
    d00, d01, d11 = (e1 * e1).sum(1), (e1 * e2).sum(1), (e2 * e2).sum(1)
    denom = d00 * d11 - d01 ** 2
    ids, barys = np.zeros(len(points), np.int64), np.zeros((len(points), 3))
    for i, p in enumerate(points):
        r = p - a
        d20, d21 = (r * e1).sum(1), (r * e2).sum(1)
        s = (d11 * d20 - d01 * d21) / denom
        t = (d00 * d21 - d01 * d20) / denom
        bary = np.clip(np.stack([1 - s - t, s, t], 1), 0, None)
        bary /= bary.sum(1, keepdims=True)
        q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
        k = int(np.linalg.norm(q - p, axis=1).argmin())
        ids[i], barys[i] = k, bary[k]
    return ids, barys


SCORES_VIEW = (0.0, 4.0)
"""(yaw, pitch) of the view whose scores are `neutral_scores`: facing the camera, from a little above."""


def rescore() -> None:
    """`--scores-only`: read `neutral_scores` again off the current neutral head (after a change to its neutral
    pose: the sealed lips took MediaPipe's pucker on it from 0.34 to 0.16) and keep the correspondence itself, which
    the landmark correction was learnt with."""
    with np.load(OUT) as data:
        arrays = {k: data[k] for k in data.files}
    with Renderer(headless_context(), RenderOptions(size=(SIZE, SIZE), background=STUDIO_BACKDROP)) as renderer, \
            FaceLandmarker() as landmarker:
        renderer.load(template_avatar(hair=None))
        renderer.render(Expression(), Camera(yaw_deg=SCORES_VIEW[0], pitch_deg=SCORES_VIEW[1], **CAMERA))
        faces = landmarker.detect(np.ascontiguousarray(renderer.read()[..., :3]))
    if len(faces) != 1:
        raise SystemExit(f"the frontal view found {len(faces)} faces")
    arrays["neutral_scores"] = faces[0].scores.astype(np.float32)
    temporary = OUT.with_name(OUT.stem + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(OUT)
    print(f"wrote {OUT}: neutral_scores over 0.2: " + ", ".join(
        f"{name} {score:.2f}" for name, score in zip(ARKIT_NAMES, faces[0].scores) if score > 0.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores-only", action="store_true", help="only read neutral_scores again (see rescore)")
    if parser.parse_args().scores_only:
        rescore()
        return
    vertices, triangles = canonical_mesh()
    mirror = np.concatenate([mirror_pairs(vertices), np.zeros(10, np.int64)])
    contour = boundary_loop(triangles)

    model = HeadModel.default()
    avatar = template_avatar(hair=None)
    positions = model.neutral_positions(model.default_identity()).astype(np.float64)
    vs, ts = model.part_slices("skin")
    skin_tris = model.triangles[ts]
    hits, scores = [], None
    ctx = headless_context()
    with Renderer(ctx, RenderOptions(size=(SIZE, SIZE), background=STUDIO_BACKDROP)) as renderer, \
            FaceLandmarker() as landmarker:
        renderer.load(avatar)
        for pitch in PITCHES:
            for yaw in YAWS:
                camera = Camera(yaw_deg=yaw, pitch_deg=pitch, **CAMERA)
                renderer.render(Expression(), camera)
                faces = landmarker.detect(np.ascontiguousarray(renderer.read()[..., :3]))
                if len(faces) != 1:
                    print(f"yaw {yaw} pitch {pitch}: {len(faces)} faces, skipped")
                    continue
                points = faces[0].points
                if (yaw, pitch) == SCORES_VIEW:
                    mirror[468:] = iris_mirror(points)
                    scores = faces[0].scores
                origin, dirs = pixel_rays(camera, points[:468, :2].astype(np.float64), 1.0)
                # cast onto every part: eyelid and lip rays that pass the skin's openings stop on the eye or
                # teeth, near the margin, instead of on the inside of the skull
                hits.append(ray_hits(origin, dirs, positions, model.triangles))
                print(f"yaw {yaw:+.0f} pitch {pitch:+.0f}: {np.isfinite(hits[-1][:, 0]).sum()} of 468 points hit")
    hits = np.array(hits)
    mean = np.nanmedian(hits, axis=0)  # robust to the odd ray that grazes past the surface
    spread = np.sqrt(np.nanmedian(((hits - mean) ** 2).sum(2), axis=0))
    if np.isnan(mean).any():
        raise SystemExit(f"{np.isnan(mean[:, 0]).sum()} landmarks never hit the head")
    tri_ids, barys = closest_on_surface(mean, positions, skin_tris)
    snapped = np.einsum("nk,nkj->nj", barys, positions[skin_tris[tri_ids]])
    gap = np.linalg.norm(snapped - mean, axis=1)
    assert scores is not None, "the frontal view found no face"
    np.savez_compressed(
        OUT, triangles=skin_tris[tri_ids].astype(np.int32), barycentric=barys.astype(np.float32),
        spread=spread.astype(np.float32), mirror=mirror.astype(np.int32), contour=contour.astype(np.int32),
        neutral_scores=scores.astype(np.float32), canonical=vertices.astype(np.float32),
        canonical_triangles=triangles.astype(np.int32), views=np.array(len(hits), np.int32))
    print(f"wrote {OUT}: {len(hits)} views; spread median {np.median(spread) * 1000:.2f} mm, "
          f"max {spread.max() * 1000:.1f} mm; snap gap max {gap.max() * 1000:.2f} mm; contour {len(contour)} points")


if __name__ == "__main__":
    main()
