"""An eyeball's baked occlusion, read by its socket's directions rather than its own.

The occlusion is baked per vertex with the eye looking ahead: dark where the lids and the corners of the eye cover
the ball. A vertex keeps its value as the eye turns, so looking sideways brought the rim the nose-side corner had
shaded (occlusion 0.2) into view as a dark grey crescent. The renderer instead fits the baked values over the rest
normals with order-2 spherical harmonics (9 numbers per eye) and the vertex shader evaluates them at the normal
expressed in the socket's frame (`u_socket`, the head joint's): the shade stays with the lids. The file keeps the
per-vertex values for our reader (`_OCCLUSION`) and gives other engines no COLOR_0 on the eyes: baked, the shade
would turn with the eyeball there.
"""

from __future__ import annotations

import numpy as np

from avatar_engine.head.geometry import sh_basis

RIDGE = 1e-3
"""Ridge on the fit (relative to the normal equations' mean diagonal): the back of the ball is never seen."""


def socket_occlusion(normals: np.ndarray, occlusion: np.ndarray) -> np.ndarray:
    """(9,) float32 coefficients: the eyeball's occlusion (n,) as a function of its rest normals (n, 3)."""
    basis = sh_basis(np.asarray(normals, np.float64))
    gram = basis.T @ basis
    gram += RIDGE * np.trace(gram) / 9 * np.eye(9)
    return np.linalg.solve(gram, basis.T @ np.asarray(occlusion, np.float64)).astype(np.float32)
