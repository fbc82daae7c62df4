"""The default avatar: the head model's parts with materials, normals and targets, ready to render or export."""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np
from PIL import Image

import avatar_engine
from avatar_engine.data_files import asset_path
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.eyes import iris_texture
from avatar_engine.head.geometry import crease_groups
from avatar_engine.head.hair import HairStyle, hair_for_skin
from avatar_engine.head.lashes import lash_material, lash_part
from avatar_engine.head.model import HeadModel
from avatar_engine.head.neck_cap import neck_cap
from avatar_engine.head.occlusion import with_occlusion
from avatar_engine.records import Avatar, Material, Part

SKIN_TEXTURE_PATH = asset_path("head", "skin_albedo.png")
BARE_SKIN_TEXTURE_PATH = SKIN_TEXTURE_PATH.with_name("skin_fill_base.png")
"""The same skin without the hair colour painted on the scalp under the default style (scripts/make_texture_maps.py)."""

PART_MATERIALS = {"skin": "skin", "tongue": "tongue", "eye_L": "eye", "eye_R": "eye",
                  "teeth_upper": "teeth", "teeth_lower": "teeth"}
CREASED_PARTS = {"teeth_upper": 60.0, "teeth_lower": 60.0}
"""Parts whose normals break at edges sharper than this many degrees. The teeth helpers are bands folded over at the
biting edge: smooth normals averaged the front with the fold and shaded a dark wedge on the front teeth."""


def creased(part: Part, max_angle_deg: float) -> Part:
    """`part` with its vertices split at creases sharper than `max_angle_deg` (head.geometry.crease_groups), each
    copy carrying its vertex's attributes and targets and the normal of its side of the crease."""
    source, normals, triangles = crease_groups(part.positions, part.indices, max_angle_deg)
    pick = lambda a: None if a is None else a[source]  # noqa: E731
    return replace(part, positions=part.positions[source], normals=normals, uvs=part.uvs[source],
                   indices=triangles.astype(np.uint32), joints=part.joints[source], weights=part.weights[source],
                   morph_positions=part.morph_positions[:, source], morph_normals=part.morph_normals[:, source],
                   tangents=pick(part.tangents), occlusion=pick(part.occlusion))


def default_materials(skin_texture: np.ndarray | None = None, iris_rgb: tuple[int, int, int] = (84, 110, 140),
                      bare_scalp: bool = False) -> dict[str, Material]:
    """The default head's materials; `bare_scalp`: a skin with no hair colour on the scalp, for a bald head."""
    path = BARE_SKIN_TEXTURE_PATH if bare_scalp else SKIN_TEXTURE_PATH
    if skin_texture is None and path.exists():
        skin_texture = np.asarray(Image.open(path).convert("RGBA"))
    return {
        "skin": Material("skin", "skin", texture=skin_texture, roughness=0.48,
                         base_color=(1.0, 1.0, 1.0, 1.0) if skin_texture is not None else (0.75, 0.52, 0.42, 1.0)),
        "eye": Material("eye", "eye", texture=iris_texture(iris_rgb), roughness=0.07),
        "teeth": Material("teeth", "teeth", base_color=(0.86, 0.82, 0.74, 1.0), roughness=0.3),
        "tongue": Material("tongue", "tongue", base_color=(0.62, 0.28, 0.29, 1.0), roughness=0.38),
    }


LIP_SEAL = 0.1
"""How much of mouthClose the rest pose carries: relaxed lips meet. The head model's neutral lips, the template's
and a fitted person's alike, leave a slit of up to a few millimetres, and other viewers (three.js, Blender, Unity,
which light the teeth by a fixed vertex colour) showed the upper incisors through it as a white line across every
resting mouth. At 0.1 the slit closes across the mouth (teeth seen from the front, 10 degrees above and below and
25 to the side of 17 random fitted heads: 26-859 pixels at 512 px on the mouth -> 0-33, specks at the corners);
at 0.2 the lower lip rises over the upper one and it looks pressed thin. mouthClose's own target is unchanged: with
jawOpen (mouthClose at or under it, as ARKit has it) it still shuts the lips over a jaw up to half open, and leaves
them the seal's 3 mm apart at both fully on."""
LIP_OPENERS = {"jawOpen": 2.0, "mouthFunnel": 0.5, "mouthUpperUpLeft": 0.5, "mouthUpperUpRight": 0.5,
               "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5}
"""The targets that part the lips, and how much of the seal each takes back at full weight: the mouth opens from
the unsealed lips, so the seal costs the teeth little of the light an open mouth shows. The jaw has taken it all
back at half open (teeth seen from the front of the template at jawOpen 0.1 / 0.2 / 0.3: 586 / 666 / 881 pixels
unsealed, half that when jawOpen took back only its own weight's share, 306 / 415 / 519 now); the upper or lower
lip raised or lowered on both sides fully takes back all of it (each side's half: half). Sealed without this,
every opening lost the seal's 3 mm and a toothy smile (mouthSmile 0.7, mouthUpperUp 0.6, mouthLowerDown 0.5)
closed over the teeth. What is taken back past the whole seal parts the lips that much further than the head
model does (3 mm at most per whole seal: a wide-open jaw's is 3 mm wider)."""


def sealed_lips(positions: np.ndarray, offsets: np.ndarray, seal: float = LIP_SEAL) -> tuple[np.ndarray, np.ndarray]:
    """(positions (n, 3), offsets (52, n, 3)) with `seal` times mouthClose's target added to the rest pose and
    taken back by the `LIP_OPENERS` as they part the lips."""
    shut = seal * np.asarray(offsets[ARKIT_INDEX["mouthClose"]], np.float32)
    offsets = np.array(offsets, np.float32)
    for name, share in LIP_OPENERS.items():
        offsets[ARKIT_INDEX[name]] -= share * shut
    return (np.asarray(positions, np.float32) + shut).astype(np.float32), offsets


def template_avatar(identity: Mapping[str, float] | None = None, materials: Mapping[str, Material] | None = None,
                    model: HeadModel | None = None, hair: HairStyle | None = HairStyle()) -> Avatar:
    """The head model's avatar for `identity` (default: the average head); `hair=None` (or a bald style) for no hair."""
    model = model or HeadModel.default()
    identity = {**model.default_identity(), **(identity or {})}
    positions, offsets = sealed_lips(model.neutral_positions(identity), model.expression_offsets)
    normals = model.normals(positions)
    morph_normals = model.normal_offsets(positions, offsets)  # (52, n, 3) each target's change of the normals
    parts = []
    for name in model.part_names:
        vs, ts = model.part_slices(name)
        parts.append(Part(
            name=name, material=PART_MATERIALS[name], positions=positions[vs], normals=normals[vs],
            uvs=model.uvs[vs], indices=(model.triangles[ts] - vs.start).astype(np.uint32),
            joints=model.joints[vs], weights=model.weights[vs],
            morph_positions=offsets[:, vs], morph_normals=morph_normals[:, vs]))
        if name in CREASED_PARTS:
            parts[-1] = creased(parts[-1], CREASED_PARTS[name])
    materials = dict(default_materials() if materials is None else materials)
    skeleton = model.skeleton(identity)
    skin = parts[model.part_names.index("skin")]
    parts.append(lash_part(skin, (skeleton.rest_positions[skeleton.index("eye_L")],
                                  skeleton.rest_positions[skeleton.index("eye_R")])))
    materials.setdefault("lashes", lash_material())
    cap = neck_cap(skin)
    if cap is not None:
        parts.append(cap)
    grown = None if hair is None else hair_for_skin(
        skin.positions, skin.indices, skin.joints, skin.weights,
        dict(zip(skeleton.names, skeleton.rest_positions)), skin.morph_positions, hair)
    if grown is not None:
        parts.append(grown[0])
        materials.setdefault("hair", grown[1])
    return with_occlusion(Avatar(parts=tuple(parts), materials=materials, skeleton=skeleton, identity=identity,
                                 generator=f"avatar-engine {avatar_engine.__version__}"))
