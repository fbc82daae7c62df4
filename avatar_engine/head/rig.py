"""Forward kinematics and a CPU reference of what the vertex shader does (pure functions)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from avatar_engine.records import Expression, Part, Skeleton


def joint_matrices(skeleton: Skeleton, rotations: Mapping[str, np.ndarray]) -> np.ndarray:
    """Skinning matrices: posed joint transform times the inverse bind transform.

    rotations : joint name -> (3, 3) rotation about the joint origin, in the parent's frame
    returns : (j, 4, 4) float32, identity for every joint at rest
    """
    unknown = set(rotations) - set(skeleton.names)
    if unknown:
        raise KeyError(f"unknown joint(s) {sorted(unknown)}; the skeleton has {list(skeleton.names)}")
    offsets = skeleton.local_offsets()
    world = np.zeros((len(skeleton.names), 4, 4))
    for j, (name, parent) in enumerate(zip(skeleton.names, skeleton.parents)):
        local = np.eye(4)
        local[:3, 3] = offsets[j]
        if name in rotations:
            local[:3, :3] = rotations[name]
        world[j] = local if parent < 0 else world[parent] @ local
    inverse_bind = np.tile(np.eye(4), (len(world), 1, 1))
    inverse_bind[:, :3, 3] = -skeleton.rest_positions
    return (world @ inverse_bind).astype(np.float32)


def pose_part(part: Part, skeleton: Skeleton, expression: Expression) -> tuple[np.ndarray, np.ndarray]:
    """CPU reference of the GPU deformation: morph, then linear-blend skinning.

    returns : positions (n, 3) float32, normals (n, 3) float32 (unit length)
    """
    w = np.asarray(expression.weights, np.float32)
    positions = part.positions + np.tensordot(w, part.morph_positions, 1)
    normals = part.normals + np.tensordot(w, part.morph_normals, 1)
    mats = joint_matrices(skeleton, expression.rotations)
    skin = np.einsum("nk,nkij->nij", part.weights, mats[part.joints.astype(np.int64)])
    posed = np.einsum("nij,nj->ni", skin[:, :3, :3], positions) + skin[:, :3, 3]
    turned = np.einsum("nij,nj->ni", skin[:, :3, :3], normals)
    turned /= np.maximum(np.linalg.norm(turned, axis=1, keepdims=True), 1e-12)
    return posed.astype(np.float32), turned.astype(np.float32)
