"""The lips kept: a built avatar wears the person's own lip colour, not the default skin's, whether the photo shows
the lips whole or a smile shows the teeth between them (benchmarks/build_lips.py measures more cases)."""

from __future__ import annotations

import numpy as np
import pytest
from painted_skin import SKIN, built_from, zone_lab

from avatar_engine.synth.albedo import SkinLook, lip_zone, paint_albedo

LIP_DELTA_E_MAX = 8.0
"""Mean lip albedo of the avatar against the truth's, CIELAB Delta E. build_lips.py: a pale lip 2.9-5.1 and a red
lipstick 5.9-7.6, where the default lips' colour (times the skin's tone) read 14-16 and 18.6-19.7."""
TEETH_SMILE = {"mouthSmileLeft": 0.85, "mouthSmileRight": 0.85, "mouthUpperUpLeft": 0.5, "mouthUpperUpRight": 0.5,
               "mouthLowerDownLeft": 0.35, "mouthLowerDownRight": 0.35, "jawOpen": 0.15}


def lip_lab(texture: np.ndarray) -> np.ndarray:
    """CIELAB of the mean linear albedo over the painter's lip zone."""
    return zone_lab(texture, lip_zone() > 0.5)


@pytest.mark.parametrize("lips, expression", [((214, 150, 146), TEETH_SMILE), ((176, 32, 48), {})],
                         ids=["pale lips, a smile showing the teeth", "red lipstick, mouth shut"])
def test_the_avatar_wears_the_persons_lips(gl_context, lips, expression):
    truth = paint_albedo(SkinLook(skin=SKIN, lips=lips, seed=1))
    built = built_from(gl_context, truth, expression)
    shipped = paint_albedo(SkinLook(skin=SKIN, seed=1))  # the same person with the default skin's lips
    error = float(np.linalg.norm(lip_lab(built) - lip_lab(truth)))
    assert error < LIP_DELTA_E_MAX, (error, lip_lab(built), lip_lab(truth))
    assert error < 0.5 * float(np.linalg.norm(lip_lab(shipped) - lip_lab(truth)))
