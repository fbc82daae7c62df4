"""photo -> Avatar: the builder's stages in order, timed, with the report.

    with Builder() as builder:                # loads MediaPipe once
        result = builder.build("me.jpg")      # BuildResult: avatar, fit, report
    avatar_engine.build("me.jpg")             # the one-call API: returns the Avatar

Stages: load (image.py), perception (perception.py), fit (fit.py), texture (texture.py, when present), hair
(hair_fit.py, when present), rig (rig.py). A stage whose module is not installed falls back to the head model's
default (skin texture, hair style) and says so in the report's warnings.
"""

from __future__ import annotations

import importlib.util
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from avatar_engine import exit_close
from avatar_engine.build.closer import closer_look
from avatar_engine.build.delight import eye_whites, lifted
from avatar_engine.build.fit import FitOptions, fit_landmarks
from avatar_engine.build.image import LUMA, MAX_SIDE, as_rgb, given_size, linear_rgb, load_photo, stored_size
from avatar_engine.build.perception import MAX_FACES, PerceptionOptions, level_photo, perceive
from avatar_engine.build.records import GLASSES_CHOICES, FitResult
from avatar_engine.build.render_check import AGREEMENT_TARGET, RenderCheck
from avatar_engine.build.report import BuildReport
from avatar_engine.build.rig import rigged_avatar
from avatar_engine.errors import InputError
from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.head.hair import HairStyle
from avatar_engine.head.model import HeadModel
from avatar_engine.head.teeth_texture import with_baked_teeth
from avatar_engine.head.template import default_materials
from avatar_engine.infer.session import BACKENDS
from avatar_engine.native_log import native_stderr_silenced
from avatar_engine.paths import errors_named, output_file, replace_together, temporary_beside
from avatar_engine.records import Avatar

if TYPE_CHECKING:
    from avatar_engine.build.scalp import ScalpCover

REPROJECTION_WARN = 0.05
"""A mean landmark reprojection error above this fraction of the inter-ocular distance is reported as poor."""
SWEPT_FRINGE_M = 0.02
"""A fitted fringe at least this long gets the sweep read from the photo's strands (shorter: nothing to sweep)."""


CHILD_AGE = 0.3
"""A fitted age setting under this (about 15 years) is reported: blurred, heavily compressed or cut-off photos of
adults fitted as young as 0.09."""
OUTSIDE_WARN = 10
"""Landmarks beyond the photo's edge from which a face counts as cut off (MediaPipe guesses them)."""
DARK_FACE = 0.12
"""Mean linear luminance of the face under which the photo is too dark to read the skin's tone: a fair face at
half exposure read 0.10 and built dark-skinned (studio photos of very dark skin read about 0.03-0.05, so this is a
warning, not a correction)."""


CLIPPED_FACE = 0.3
"""Fraction of the face's pixels clipped in two channels or more above which the photo is overexposed."""


def photo_warnings(rgb: np.ndarray, seen) -> list[str]:
    """What about this photo may make the avatar wrong: a face cut by the edge, a dark, under- or overexposed face."""
    h, w = rgb.shape[:2]
    px = seen.points_px
    outside = int(((px[:, 0] < 0) | (px[:, 0] >= w) | (px[:, 1] < 0) | (px[:, 1] >= h)).sum())
    warnings = []
    if outside >= OUTSIDE_WARN:
        warnings.append(f"the face is cut by the photo's edge ({outside} of {len(px)} landmarks outside): the missing "
                        "part is guessed; a photo with the whole head fits better")
    x0, y0 = np.clip(px.min(axis=0).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(px.max(axis=0).astype(int) + 1, 1, [w, h])
    face = rgb[y0:y1, x0:x1].reshape(-1, 3)
    if len(face):
        luminance = float((linear_rgb(face) @ LUMA).mean())
        # usable eye whites say how the photo is exposed (lifted when grey: the texture stage says so); a dark face
        # with bright eye whites is a dark skin, not a dark photo
        if eye_whites(rgb, px) is None and luminance < DARK_FACE:
            warnings.append(f"the face is dark in the photo (mean luminance {luminance:.2f}): a fair skin may come out "
                            "darker than it is; a brighter photo gives a truer tone")
        clipped = float(((face >= 250).sum(axis=1) >= 2).mean())
        if clipped > CLIPPED_FACE:
            warnings.append(f"the photo is overexposed ({clipped:.0%} of the face clipped): the skin may come "
                            "out paler than it is and the hair's colour is lost; a darker photo gives a truer tone")
    return warnings


HEAD_CROP_FACES = 3.5
"""The person segmenter sees a square this many face heights wide round the face (the whole photo when smaller)."""


def segment_around_head(segmenter, rgb: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
    """(h, w) person probability, the segmenter run on a square round the head (zero elsewhere): on the whole of a
    large photo it took part of a flag for the person (purple hair), and on a wide strip it found no person at all
    (a bald avatar). A photo that is about the head already is segmented whole, as before."""
    h, w = rgb.shape[:2]
    face_h = float(np.ptp(landmarks_px[:, 1]))
    side = int(round(HEAD_CROP_FACES * face_h))
    if side >= 0.9 * max(w, h):
        return segmenter.segment(rgb)
    cx, cy = landmarks_px.mean(axis=0)
    x0 = int(np.clip(round(cx - side / 2), 0, max(w - side, 0)))
    y0 = int(np.clip(round(cy - 0.55 * side), 0, max(h - side, 0)))  # a little more above: hair and crown
    crop = np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])
    person = np.zeros((h, w), np.float32)
    person[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = segmenter.segment(crop)
    return person


GREY_TOLERANCE = 3
"""A photo whose colour channels all lie within this many levels of each other is greyscale (JPEG keeps them close,
not equal)."""


def is_greyscale(rgb: np.ndarray) -> bool:
    """rgb : (h, w, 3) uint8; True when it carries no colour (a black-and-white photo loaded as RGB)."""
    sample = rgb[::4, ::4].astype(np.int16)  # a sixteenth of the pixels says it
    return bool(np.abs(sample[..., 0] - sample[..., 1]).max() <= GREY_TOLERANCE
                and np.abs(sample[..., 1] - sample[..., 2]).max() <= GREY_TOLERANCE)


@dataclass(frozen=True)
class BuildOptions:
    """What to build and how."""

    face: Literal["largest"] | int | None = None
    """Which face when the photo has several: "largest" or N from the left (1-based); None refuses crowds."""
    fit: FitOptions = field(default_factory=FitOptions)
    texture: bool = True
    """Make the skin texture from the photo (else the default skin)."""
    texture_size: int = 1024
    """Width and height of the skin texture in the avatar file: 512 (made at 1024, then averaged down: light assets),
    1024 or 2048 (made at 2048: about 3 s more, worth it for photos whose face spans over ~600 pixels)."""
    texture_net: bool = False
    """Correct the hand-made skin texture with the texture network (`assets/models/texture_refine.onnx`, on
    `backend`; needs the [infer] extra). Off by default: see `assets/models/texture_refine.md` for where it wins
    and where it does not."""
    glasses: Literal["auto", "on", "off"] = "auto"
    """The skin a pair of glasses may cover is left out of the texture and filled in from the skin around it:
    "auto" where the photo's glasses are found (`build.glasses`), "on" always (frames it misses: rimless, thin
    metal), "off" never."""
    hair: bool = True
    """Fit the hair to the photo (else the default style)."""
    landmarker: str = "mediapipe"
    """Face landmarks from "mediapipe" (its Tasks API) or "onnx" (the same models on the inference backends,
    `perception.onnx_landmarker`: batches and GPUs; needs `avatar engines convert`); "auto": the ONNX one where
    `backend` runs on a GPU and the models are converted, else MediaPipe's (`perception.choice`). MediaPipe's by
    default: on the H200 the first CUDA run of a process took 5.4 s, against the 0.2 s MediaPipe takes a photo
    and the 0.19 s the GPU saves on each later one. Also the render check's judge."""
    backend: str = "auto"
    """Inference backend of every network the build runs (landmarker "onnx", the reconstruction network with
    `fit.recon` on, the texture network): auto, tensorrt, onnxruntime or torch (CUDA when torch sees a device).
    With auto the landmarker takes a GPU where one can be used (`infer.select.resolve_backend`) and the two small
    networks stay on ONNX Runtime's CPU provider: a GPU saves them under 3 ms a photo (H200: reconstruction 0.16
    -> 0.13 ms, texture 2.5 -> 0.37 ms), its start-up in a process costs seconds (5.4 s there). The builder sets
    `fit.recon_backend` from it."""

    @property
    def small_networks(self) -> tuple[str, str]:
        """(backend, device) of the reconstruction and texture networks: `backend` on the device it picks, but
        ONNX Runtime on the CPU for auto (also where an onnxruntime-gpu build offers CUDA)."""
        return ("onnxruntime", "cpu") if self.backend == "auto" else (self.backend, "auto")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"unknown inference backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.glasses not in GLASSES_CHOICES:
            raise InputError(f"--glasses must be one of {', '.join(GLASSES_CHOICES)}, got {self.glasses!r}")
        if self.texture_size not in TEXTURE_SIZES:
            raise InputError(f"texture size {self.texture_size} is not one of {', '.join(map(str, TEXTURE_SIZES))}")
        if self.texture_net and self.texture_work_size != 1024:
            raise InputError(f"the texture network works on 1024 x 1024 textures; drop the texture network or use "
                             f"texture size 512 or 1024, not {self.texture_size}")

    @property
    def texture_work_size(self) -> int:
        """The size the texture stage works at: `texture_size`, but never below 1024 (its tables' and the default
        skin's size)."""
        return max(self.texture_size, 1024)


TEXTURE_SIZES = (512, 1024, 2048)
"""Skin texture sizes `BuildOptions.texture_size` takes."""

SkinLight = tuple[np.ndarray, np.ndarray]
"""(the photo's cheeks (3,) 0-255, the skin albedo made of them (3,) uint8 texture value): how the photo's light
stands to the skin's albedo, which the hair's colour follows (scalp.hair_albedo_color)."""


@dataclass(frozen=True)
class BuildResult:
    avatar: Avatar
    fit: FitResult
    report: BuildReport
    photo: np.ndarray
    """photo : (h, w, 3) uint8 the photo as the stages saw it (upright, downscaled)."""


def resized_texture(texture: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 4) uint8 -> (size, size, 4): box-averaged when smaller (each texel the mean of those it covers, so
    the islands' gutters shrink with them), bicubic when larger."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(texture), "RGBA")
    smaller = size < texture.shape[0]
    return np.asarray(image.resize((size, size), Image.Resampling.BOX if smaller else Image.Resampling.BICUBIC))


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class Builder:
    """Builds avatars from photos; holds the MediaPipe models between builds. A context manager."""

    def __init__(self, options: BuildOptions | None = None, model: HeadModel | None = None) -> None:
        from avatar_engine.perception import FaceLandmarkerOptions
        from avatar_engine.perception.choice import open_face_landmarker

        options = BuildOptions() if options is None else options
        if not isinstance(options, BuildOptions):  # a dict of options failed on "'dict' object has no attribute"
            raise TypeError(f"options must be a BuildOptions (e.g. BuildOptions(texture=False)), got "
                            f"{type(options).__name__}")
        backend, device = options.small_networks
        self.options = replace(options, fit=replace(options.fit, recon_backend=backend, recon_device=device))
        # the reconstruction network learnt on the photo-and-mirror reading: it gets that reading, not the copies'
        self.perception_options = PerceptionOptions(face=self.options.face, augment=self.options.fit.recon == "off")
        self.model = model or HeadModel.default()
        self._closed = False
        with native_stderr_silenced():
            self._landmarker = open_face_landmarker(
                self.options.landmarker, FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES),
                self.options.backend)
        # a Builder never closed (no `with`) is closed as the interpreter shuts down, where MediaPipe's own
        # finalisers printed a traceback each for the landmarker and the segmenter
        exit_close.close_at_exit(self)
        self.unused_backend = self._unused_backend()
        """A warning every build's report carries when `options.backend` was asked for and nothing runs on it."""
        self._segmenter = None  # the hair stage's person segmenter: opened at its first use, then kept
        self._gl = None  # the render check's headless OpenGL context: made at its first use, then kept
        self._texture_net = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avatar-build")
        """Makes each photo's texture beside the hair and rig stages."""
        try:
            self._open_the_rest()
        except BaseException:
            # what opened is closed now: a MediaPipe graph left to the garbage collector can hang the exit
            self.close()
            raise

    def _unused_backend(self) -> str | None:
        """--backend tensorrt with MediaPipe's landmarker and no network on: nothing ran on TensorRT, not installed
        there, and the report recorded it as the backend without a word (`avatar live` says so)."""
        from avatar_engine.perception.landmarker import FaceLandmarker

        o = self.options
        if o.backend == "auto" or not isinstance(self._landmarker, FaceLandmarker) or o.fit.recon != "off" or (
                o.texture and o.texture_net):
            return None
        why = ("--landmarker auto kept MediaPipe's own landmarker (no GPU for it here, or the face models are not "
               "converted: avatar engines convert)" if o.landmarker == "auto" else "MediaPipe's own landmarker ran")
        return (f"--backend {o.backend} was not used: {why}, and no network was on (--landmarker onnx, --recon, "
                f"--texture-net run on it)")

    def _open_the_rest(self) -> None:
        """The optional networks and the texture stage's UV tables: a missing or damaged model fails here, not at
        the first photo."""
        if self.options.fit.recon != "off":
            from avatar_engine.build.fit import recon_network

            recon_network(self.options.fit.recon_model, self.options.fit.recon_backend, self.options.fit.recon_device)
        if self.options.texture and self.options.texture_net:
            from avatar_engine.nets.texture_net import TextureNet

            backend, device = self.options.small_networks
            self._texture_net = TextureNet.open(backend=backend, device=device)
        if self.options.texture and _available("avatar_engine.build.texture"):
            from avatar_engine.build.texture import prepare_layout

            vs, ts = self.model.part_slices("skin")  # the UV tables are made once, with the models, not per photo
            prepare_layout(self.model.uvs[vs], self.model.triangles[ts] - vs.start, self.options.texture_work_size)

    def build(self, image: str | os.PathLike[str] | np.ndarray) -> BuildResult:
        """Build the avatar of the face in `image` (a file path or an (h, w[, c]) image array).

        Raises InputError for photos it refuses (unreadable, no face, several faces, too small, turned away).
        """
        from avatar_engine.pools import single_threaded_pools

        exit_close.used_here(self)
        with single_threaded_pools():
            return self._build(image)

    def _build(self, image: str | os.PathLike[str] | np.ndarray) -> BuildResult:
        name = str(image) if isinstance(image, (str, os.PathLike)) else "<array>"
        opts = self.options
        report = BuildReport(photo=name, options={
            "face": opts.face, "texture": opts.texture, "texture_size": opts.texture_size,
            "texture_net": opts.texture_net, "recon": opts.fit.recon, "hair": opts.hair, "glasses": opts.glasses,
            "landmarker": opts.landmarker, "backend": opts.backend})
        with report.stage("load"):
            rgb = load_photo(image) if isinstance(image, (str, os.PathLike)) else as_rgb(image)
        report.size = (int(rgb.shape[1]), int(rgb.shape[0]))
        if self.unused_backend:
            report.warnings.append(self.unused_backend)
        stored = stored_size(image) if isinstance(image, (str, os.PathLike)) else given_size(image)
        if is_greyscale(rgb):
            report.warnings.append("the photo has no colour: the skin's colour is a guess, and the hair and eyes "
                                   "keep the photo's greys (their lightness is the person's, their hue unknown)")
        # the faces are looked for in the photo as loaded (at most MAX_SIDE a side): one the builder takes in the
        # file may be smaller there, and is read from the file (`closer_look`). Held to the file's min_face_px, a
        # 123-pixel face in an 8000x6000 photo (31 pixels as loaded) was refused as "no face found"
        search = self.perception_options
        if stored is not None and max(stored) > max(rgb.shape[:2]):
            search = replace(search, min_face_px=search.min_face_px * max(rgb.shape[:2]) / max(stored))
        with report.stage("perception"), native_stderr_silenced():
            rgb, turned, faces = level_photo(rgb, self._landmarker, search)
            closer = None if turned else closer_look(image, rgb, faces, stored, self._landmarker,
                                                     self.perception_options)
            if closer is None:
                seen = perceive(rgb, self._landmarker, self.perception_options, faces)
            else:  # the face chosen in the whole photo, the only one asked of the window
                rgb = closer.rgb
                seen = perceive(rgb, self._landmarker, replace(self.perception_options, face=None), [closer.face])
                seen = replace(seen, face_count=len(faces))
        if closer is not None:
            x0, y0, x1, y1 = closer.box
            report.size = (int(rgb.shape[1]), int(rgb.shape[0]))
            report.warnings.append(f"the face is small in the {stored[0]}x{stored[1]} photo: it was built from the "
                                   f"{x1 - x0}x{y1 - y0} square around it at ({x0}, {y0}), read at "
                                   f"{report.size[0]}x{report.size[1]}; the report's pixel figures are that square's")
        elif stored is not None and max(stored) > max(report.size):
            report.warnings.append(f"the photo ({stored[0]}x{stored[1]}) was scaled down to {report.size[0]}x"
                                   f"{report.size[1]} to build (at most {MAX_SIDE} pixels on a side); the "
                                   "report's pixel figures are at that size")
        if turned:
            report.size = (int(rgb.shape[1]), int(rgb.shape[0]))
            report.warnings.append(f"the face was tilted {abs(turned):.0f} degrees in the photo; the photo was turned "
                                   "to level it")
        report.warnings.extend(photo_warnings(rgb, seen))
        if seen.face_count > 1:
            report.warnings.append(f"{seen.face_count} faces in the photo; built face chosen by --face "
                                   f"{self.options.face}")
        elif isinstance(self.options.face, int) and seen.face_count == 1:
            # --face 1 of two people, one too small or turned away to be found, built the other without a word
            report.warnings.append(f"--face {self.options.face}: only one face was found in the photo, and it was "
                                   f"built (faces under {self.perception_options.min_face_px:.0f} pixels tall or "
                                   "turned away are not found)")
        with report.stage("fit"):
            fit = fit_landmarks(seen, self.model, self.options.fit)
        report.warnings.extend(fit.warnings)
        age = float(fit.identity.get("age", 0.5))
        if age < CHILD_AGE:  # MakeHuman's age: 0 one year, 0.5 twenty-five, linear between
            report.warnings.append(f"the head came out child-sized (about {1 + 48 * age:.0f} years); for an adult, a "
                                   "sharper, uncropped photo fits better (blur and cut-off faces shrink the fit)")
        err = np.linalg.norm(fit.view.project(_landmarks(fit, self.model)) - fit.landmarks_px[:468], axis=1)
        report.fit = {"reprojection_error": round(fit.reprojection_error, 5),
                      "reprojection_error_max": round(float(err.max() / seen.inter_ocular_px), 5),
                      "inter_ocular_px": round(seen.inter_ocular_px, 2), "focal_px": round(fit.view.focal_px, 1),
                      "fov_y_deg": round(fit.view.fov_y_deg, 2), "yaw_deg": round(seen.yaw_deg, 2),
                      "residual_max_mm": round(float(np.linalg.norm(fit.residual, axis=1).max() * 1000), 3)}
        report.expression = {n: round(float(w), 3) for n, w in zip(ARKIT_NAMES, fit.photo_expression.weights)
                             if w > 0.05}
        if fit.reprojection_error > REPROJECTION_WARN:
            report.warnings.append(f"poor landmark fit: mean reprojection error {fit.reprojection_error:.3f} of the "
                                   f"inter-ocular distance")
        # The texture needs only the fit, and so do the hair and the rig: on two cores the texture is made on the
        # worker thread while this one fits the hair and rigs (numpy, OpenCV and ONNX Runtime release the GIL in
        # their heavy loops). The hair's colour waits for the texture's brightness correction. The texture
        # network's view of the photo needs only the fit too: this thread makes it first, for the worker.
        texture_start = report.begin("texture")
        projection: Future = Future()
        texture = self._worker.submit(self._timed_materials, rgb, fit, report, projection)
        try:
            try:
                projection.set_result(self._network_projection(rgb, fit))
            except BaseException as exc:
                projection.set_exception(exc)  # the worker waits on it: never leave it unset
                raise
            with report.stage("hair"):
                hair = self._hair(rgb, fit, report)
            with report.stage("rig"):
                avatar = rigged_avatar(self.model, fit.identity, fit.neutral_positions, {}, hair)
                cover = self._scalp_cover(hair, fit, avatar) if self.options.texture else None
        finally:
            wait([texture])  # never leave the worker busy with this photo when the next one starts
        materials, skin_light, texture_end = texture.result()
        report.end("texture", texture_start, texture_end)
        with report.stage("materials"):
            avatar = self._dress(avatar, materials, skin_light, hair, cover, report)
        return BuildResult(avatar=avatar, fit=fit, report=report, photo=rgb)

    # --- optional stages (other modules of the builder) ---------------------------------------------------------
    def _network_projection(self, rgb: np.ndarray, fit: FitResult) -> tuple[np.ndarray, np.ndarray] | None:
        """The photo in UV as the texture network sees it (`texture_net.fit_projection`); None without the network."""
        if self._texture_net is None or not self.options.texture:
            return None
        from avatar_engine.nets.texture_net import fit_projection

        return fit_projection(rgb, fit, self.model)

    def _materials(self, rgb: np.ndarray, fit: FitResult, report: BuildReport,
                   projection: Future | None = None) -> tuple[dict, SkinLight | None]:
        """The materials, and the photo's cheeks with the skin albedo made of them (None: default skin)."""
        if not self.options.texture:
            report.warnings.append("texture stage off: default skin texture")
            return default_materials(), None
        if not _available("avatar_engine.build.texture"):
            report.warnings.append("texture stage not available in this build: default skin texture and iris")
            return default_materials(), None
        from avatar_engine.build.delight import skin_color
        from avatar_engine.build.texture import TextureOptions, texture_from_fit

        result = texture_from_fit(rgb, fit, model=self.model,
                                  options=TextureOptions(size=self.options.texture_work_size,
                                                         glasses=self.options.glasses))
        report.warnings.extend(result.warnings)
        report.texture = {
            "skin_rgb": list(result.skin_rgb),
            "white_balance": "eye whites" if result.white_balance_from_sclera else "skin prior",
            "face_light": round(result.face_light, 3), "key_facing": round(result.key_facing, 3),
            "iris_rgb": list(result.iris_rgb) if result.iris_rgb is not None else None,
            "coverage": {k: round(v, 3) for k, v in result.coverage.items()}, "size": self.options.texture_size,
            "glasses": None if result.glasses is None else {"found": result.glasses.found, "bridge": result.glasses.bridge,
                                                             "left_out": result.glasses.masked}}
        kwargs = {"iris_rgb": tuple(result.iris_rgb)} if result.iris_rgb is not None else {}
        texture = result.texture
        if self._texture_net is not None:
            from avatar_engine.nets.texture_net import net_texture

            projected = projection.result() if projection is not None else None
            texture = net_texture(self._texture_net, rgb, fit, self.model, result, projected)
        cheeks = skin_color(rgb, fit.landmarks_px)
        if cheeks is not None and result.exposure_lift != 1.0:  # as the texture read them: the hair keeps their ratio
            cheeks = lifted(cheeks, result.exposure_lift)
        skin_light = (cheeks, np.asarray(result.skin_rgb)) if cheeks is not None else None
        return default_materials(skin_texture=texture, **kwargs), skin_light

    def _timed_materials(self, rgb: np.ndarray, fit: FitResult, report: BuildReport,
                         projection: Future) -> tuple[dict, SkinLight | None, float]:
        """`_materials` and when it finished (it runs on the worker thread)."""
        materials, skin_light = self._materials(rgb, fit, report, projection)
        return materials, skin_light, time.perf_counter()

    def _dress(self, avatar: Avatar, materials: dict, skin_light: SkinLight | None, hair: HairStyle | None,
               cover: "ScalpCover | None", report: BuildReport) -> Avatar:
        """The rigged avatar with the photo's materials: the hair's colour made an albedo that renders as the photo
        shows it next to the skin (`skin_light`), the scalp under the hair (`cover`) painted; the lashes' and hair's
        materials kept or replaced."""
        dressed = dict(materials)
        for name, material in avatar.materials.items():  # the rig's own (lashes, hair) after the photo's
            dressed.setdefault(name, material)
        if skin_light is not None and hair is not None:
            from avatar_engine.build.scalp import hair_albedo_color, paint_cover, plain_surface_gain
            from avatar_engine.head.hair import hair_material

            photo_color = hair.color
            hair = replace(hair, color=hair_albedo_color(photo_color, *skin_light))
            report.hair = _style_report(hair)
            dressed = paint_cover(dressed, cover, hair.color)
            if "hair" in dressed:
                dressed["hair"] = hair_material(hair, plain_surface_gain(photo_color, *skin_light, hair.color))
        skin = dressed.get("skin")
        if skin is not None and skin.texture is not None and skin.texture.shape[0] != self.options.texture_size:
            dressed["skin"] = replace(skin, texture=resized_texture(skin.texture, self.options.texture_size))
        return with_baked_teeth(replace(avatar, materials=dressed))

    def _scalp_cover(self, hair: HairStyle | None, fit: FitResult, avatar: Avatar) -> "ScalpCover | None":
        """Where the scalp under `hair` takes the hair's colour, on the texture the texture stage makes."""
        if hair is None:
            return None
        from avatar_engine.build.scalp import scalp_cover

        vs, ts = self.model.part_slices("skin")
        skeleton = avatar.skeleton  # the fitted skeleton
        return scalp_cover(hair, fit.neutral_positions[vs], self.model.uvs[vs], self.model.triangles[ts] - vs.start,
                           dict(zip(skeleton.names, skeleton.rest_positions)), self.options.texture_work_size)

    def _hair(self, rgb: np.ndarray, fit: FitResult, report: BuildReport) -> HairStyle | None:
        """The fitted hair style, its colour as the photo shows it (`_dress` makes it an albedo)."""
        if not self.options.hair:
            report.warnings.append("hair stage off: default hair style")
            return HairStyle()
        if not (_available("avatar_engine.build.hair_fit") and _available("avatar_engine.perception.segmenter")):
            report.warnings.append("hair stage not available in this build: default hair style, no hair IoU")
            return HairStyle()
        from avatar_engine.build.hair_curl import hair_wave
        from avatar_engine.build.hair_fit import fit_hair, hair_region, head_silhouette
        from avatar_engine.perception.segmenter import PersonSegmenter

        with native_stderr_silenced():
            if self._segmenter is None:
                self._segmenter = PersonSegmenter()
            person = segment_around_head(self._segmenter, rgb, fit.landmarks_px)
        region = hair_region(rgb, person, fit.landmarks_px)
        # the outline cannot tell straight hair from curls; the texture can, and curls change the outline to fit
        wave = round(hair_wave(rgb, region.mask, fit.landmarks_px), 3)
        # the bare skin and the fitted skeleton are all the fit needs: rigging a bald avatar cost 0.5 s
        result = fit_hair(region, head_silhouette(self.model, fit.identity, fit.neutral_positions, fit.view),
                          wave=wave)
        report.hair_iou = round(float(result.iou), 4)
        style = result.style
        # as the texture reads the light (`glasses.eye_white_lift`): not from eye whites behind glasses
        from avatar_engine.build.glasses import detect_glasses, eye_white_lift

        glasses = detect_glasses(rgb, fit.landmarks_px) if self.options.glasses != "off" else None
        lift = eye_white_lift(rgb, fit.landmarks_px, glasses)
        if lift is not None:  # the hair's colour read as the skin's is, with the light the eye whites say
            style = replace(style, color=tuple(int(round(c)) for c in np.clip(lifted(style.color, lift[0]), 0, 255)))
        if region.headwear and region.bald:
            report.hair_iou = None  # nothing was fitted to measure: 0.0 read as a failed fit
            report.warnings.append(f"hair: headwear hides the head and only {int(region.mask.sum())} hair pixels show; "
                                   "the short style and its colour are guesses (a photo without a hat gives the "
                                   "person's own hair)")
        elif region.bald:
            report.hair_iou = None  # no hair drawn against none found: 1.0 read as a hair fit that worked
            report.warnings.append(f"hair: too little found to grow ({int(region.mask.sum())} hair pixels), so the "
                                   "avatar is bald; if the person has hair, a sharp, well-lit photo showing the whole "
                                   "top of the head finds it")
        if style.fringe >= SWEPT_FRINGE_M:  # the outline cannot tell which way a fringe is combed; its strands can
            from avatar_engine.build.hair_sweep import fringe_sweep

            style = replace(style, sweep=round(fringe_sweep(rgb, region.mask, fit.landmarks_px), 3))
        report.hair = _style_report(style)
        return style

    def check_render(self, result: BuildResult) -> RenderCheck | None:
        """MediaPipe on a render of the avatar in the photo's pose, compared with the photo's landmarks; also put in
        the report (`render_check`, stage "check"). None, with a warning, when no OpenGL context can be made."""
        from avatar_engine.build.render_check import check_render
        from avatar_engine.errors import BackendError
        from avatar_engine.render.context import headless_context

        report = result.report
        with report.stage("check"):
            try:
                if self._gl is None:
                    self._gl = headless_context()
            except BackendError as exc:
                report.warnings.append(f"render check skipped: {exc}")
                return None
            with native_stderr_silenced():
                check = check_render(self._gl, result.avatar, result.fit, self._landmarker)
        report.render_check = check.as_report()
        if not check.found:
            report.warnings.append("MediaPipe finds no face on a render of the avatar in the photo's pose")
        elif check.mean > AGREEMENT_TARGET:
            report.warnings.append(f"MediaPipe's landmarks on the avatar's render are {check.mean:.3f} of the "
                                   f"inter-ocular distance from the photo's (target {AGREEMENT_TARGET})")
        return check

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        exit_close.forget(self)
        # each one closed whatever the one before raised: a landmarker failing to close left the segmenter open
        parts = [self._worker.shutdown, self._landmarker.close]
        parts += [part.close for part in (self._texture_net, self._segmenter) if part is not None]
        parts += [self._gl.release] if self._gl is not None else []
        failed = None
        for close in parts:
            try:
                close()
            except Exception as exc:  # the first failure is raised once all are closed
                failed = failed or exc
        if failed is not None:
            raise failed

    def __enter__(self) -> "Builder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _style_report(style: HairStyle) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else round(v, 4) if isinstance(v, float) else v)
            for k, v in asdict(style).items()}


def _landmarks(fit: FitResult, model: HeadModel) -> np.ndarray:
    from avatar_engine.build.landmark_model import Correspondence

    return Correspondence.default().points(fit.posed_positions.astype(np.float64))


def build(image: str | os.PathLike[str] | np.ndarray, options: BuildOptions | None = None) -> Avatar:
    """The avatar of the face in `image` (file path or image array); see `Builder` to build many or get the report."""
    with Builder(options) as builder:
        return builder.build(image).avatar


def build_to_file(image: str | os.PathLike[str], output: str | os.PathLike[str],
                  report_path: str | os.PathLike[str] | None = None,
                  options: BuildOptions | None = None) -> BuildResult:
    """Build and write the .glb (and the JSON report): both or neither. Nothing is written if a stage fails, and a
    report that cannot be written (a full disk) takes its avatar with it.

    With a report, the avatar is also rendered in the photo's pose and checked by MediaPipe (`Builder.check_render`).
    """
    from avatar_engine.io import write_glb

    # the outputs can be written (their folders exist and are writable, each has its suffix, so neither goes over
    # the other) before any work
    output = output_file(output, (".glb",))
    if report_path is not None:
        report_path = output_file(report_path, (".json",), "report")
    with Builder(options) as builder:
        result = builder.build(image)
        if report_path is not None:
            builder.check_render(result)  # ~0.5 s on a software rasteriser: only when a report is asked for
    # each to a temporary name, then both renamed: either both files are there or neither
    files = [(temporary_beside(output), Path(output))]
    if report_path is not None:
        files.append((temporary_beside(report_path), Path(report_path)))
    try:
        with errors_named(*files[0]), result.report.stage("write"):
            write_glb(result.avatar, files[0][0])
        if report_path is not None:
            with errors_named(*files[1]):
                result.report.write(files[1][0])
        replace_together(files)
    finally:
        for tmp, _ in files:
            tmp.unlink(missing_ok=True)
    return result
