"""The texture network against the builder's hand-made texture stage, on held-out synthetic people and the photos.

    PYTHONPATH=. python benchmarks/texture_net.py [--seed 39000] [-n 20] [--save DIR] [--out result.json]

Held-out synthetic people (`avatar synth --texture`'s scenes for seed 39000, never trained on: training sets use
30000+) go through the builder's own perception, fit and hand-made texture stage (`SceneBuilder`); then each
network present in assets/models corrects it ("refine": the hand stage's texture corrected; "alone": the default
skin corrected, no hand stage). Every texture is scored at 1024 x 1024 against the true albedo the renderer drew,
in texture units (0-255), on four texel sets of the skin layout: all covered texels ('all': includes the scalp,
whose truth is painted in the hair's colour under the hair), the face ('face': `synthetic.face_region`, in front
of the ears, hairline to chin), the texels the photo shows well ('visible': the hand stage's seen > 0.5) and the
ones it filled ('filled': confidence <= 0.5):

- L1: mean absolute difference over RGB;
- SSIM: per channel with a 7 x 7 box window (C1 = (0.01 L)^2, C2 = (0.03 L)^2), averaged over the set; texels
  outside the layout take the truth's value in both images, so the gutters do not count;
- seams: the colour step across UV island borders (`texture_fill.seam_error`): the median over seam edges and
  'seam_excess', the mean step beyond the truth's own on the same edge.

On the shippable photos (assets/photos/astronaut.png, matplotlib's grace_hopper.jpg) there is no truth: the seam
median and the time are reported, and --save writes renders of the avatar with each texture (front, 35 and 70
degrees) to look at. Times are wall-clock on whatever machine runs it, with its load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image
from result_file import emit

from avatar_engine.build.texture_fill import seam_error
from avatar_engine.build.texture_project import box_blur
from avatar_engine.nets.texture_data import SceneBuilder
from avatar_engine.nets.texture_net import MODEL_DIR, TextureNet, net_texture, skin_layout

PHOTOS = ("assets/photos/astronaut.png", "grace_hopper")
SSIM_RADIUS = 3


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(h, w) SSIM of two (h, w, 3) images in 0-255, averaged over the channels (box window 2 SSIM_RADIUS + 1)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = np.zeros(a.shape[:2])
    for k in range(3):
        x, y = a[..., k].astype(np.float64), b[..., k].astype(np.float64)
        mx, my = box_blur(x, SSIM_RADIUS), box_blur(y, SSIM_RADIUS)
        vx = box_blur(x * x, SSIM_RADIUS) - mx * mx
        vy = box_blur(y * y, SSIM_RADIUS) - my * my
        cxy = box_blur(x * y, SSIM_RADIUS) - mx * my
        out += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return out / 3


def scores(texture: np.ndarray, truth: np.ndarray, sets: dict[str, np.ndarray], covered: np.ndarray,
           skin_mesh) -> dict:
    rgb, true = texture[..., :3].astype(np.float64), truth[..., :3].astype(np.float64)
    rgb = np.where(covered[..., None], rgb, true)  # the gutters never count
    ssim = ssim_map(rgb, true)
    out = {}
    for name, region in sets.items():
        out[f"l1_{name}"] = round(float(np.abs(rgb[region] - true[region]).mean()), 3)
        out[f"ssim_{name}"] = round(float(ssim[region].mean()), 4)
    uvs, tris, positions = skin_mesh
    out["seam_median"] = round(seam_error(texture, uvs, tris, positions), 3)
    out["seam_excess"] = round(seam_error(texture, uvs, tris, positions, reference=truth), 3)
    return out


def render_views(ctx, identity, texture, iris) -> np.ndarray:
    from avatar_engine.head.template import default_materials, template_avatar
    from avatar_engine.records import Expression
    from avatar_engine.render.camera import Camera
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    kwargs = {"iris_rgb": tuple(iris)} if iris is not None else {}
    avatar = template_avatar(identity, default_materials(skin_texture=texture, **kwargs), hair=None)
    skin = avatar.part("skin").positions
    centre = tuple(float(c) for c in 0.5 * (skin.min(0) + skin.max(0)))  # phenotypes move the whole head
    views = []
    with Renderer(ctx, RenderOptions(size=(320, 320), background=STUDIO_BACKDROP)) as r:
        r.load(avatar)
        for yaw in (0.0, 35.0, 70.0):
            r.render(Expression(), Camera(target=centre, yaw_deg=yaw, distance=0.75))
            views.append(r.read()[..., :3])
    return np.hstack(views)


def face_texels(model) -> np.ndarray:
    """(1024, 1024) bool: texels of the face region (`synthetic.face_region`'s vertices, interpolated > 0.5)."""
    from avatar_engine.build.synthetic import face_region
    from avatar_engine.build.texture_project import texel_map

    vs, ts = model.part_slices("skin")
    flags = np.zeros((vs.stop - vs.start, 1))
    flags[face_region(model) - vs.start] = 1.0
    tmap = texel_map(model.uvs[vs], model.triangles[ts] - vs.start, 1024)
    return tmap.image(tmap.interpolate(flags, model.triangles[ts] - vs.start))[..., 0] > 0.5


def summary(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": round(float(v.mean()), 4), "median": round(float(np.median(v)), 4)} if len(v) else {}


def photo_path(name: str) -> Path:
    if name == "grace_hopper":
        import matplotlib.cbook

        return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return Path(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=39000)
    parser.add_argument("-n", "--count", type=int, default=20)
    parser.add_argument("--models", default=str(MODEL_DIR), help="folder with texture_refine/texture_alone.onnx")
    parser.add_argument("--save", type=Path, help="directory for PNGs to look at")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "texture_net.json"))
    args = parser.parse_args()
    load_start = os.getloadavg()
    nets = {mode: TextureNet.open(Path(args.models) / f"texture_{mode}.onnx")
            for mode in ("refine", "alone") if (Path(args.models) / f"texture_{mode}.onnx").is_file()}
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    builder = SceneBuilder()
    model = builder.model
    vs, ts = model.part_slices("skin")
    skin_mesh = (model.uvs[vs], model.triangles[ts] - vs.start, model.positions[vs])
    layout = skin_layout(model.uvs[vs], model.triangles[ts] - vs.start)
    covered = layout["covered"]
    face = face_texels(model) & covered
    methods = ["hand"] + [f"network_{m}" for m in nets]
    per = {m: [] for m in methods}
    seconds = {m: [] for m in methods}
    skipped = []
    for i in range(args.count):
        run = builder.run(args.seed, i)
        if run is None:
            skipped.append(i)
            continue
        hand = run["hand"]
        sets = {"all": covered, "face": face, "visible": covered & (hand.seen > 0.5),
                "filled": covered & (hand.confidence <= 0.5)}
        textures = {"hand": hand.texture}
        seconds["hand"].append(run["hand_seconds"])
        for mode, net in nets.items():
            t0 = time.perf_counter()
            textures[f"network_{mode}"] = net_texture(net, run["photo"], run["fit"], model, hand)
            seconds[f"network_{mode}"].append(time.perf_counter() - t0 + (run["hand_seconds"] if mode == "refine"
                                                                          else 0.0))
        for m, tex in textures.items():
            per[m].append({"index": i, **scores(tex, run["truth"], sets, covered, skin_mesh)})
        if args.save and i < 3:
            Image.fromarray(run["photo"]).save(args.save / f"synth_{i}_photo.png")
            rows = [render_views(builder.ctx, run["fit"].identity, t, hand.iris_rgb)
                    for t in [run["truth"]] + list(textures.values())]
            Image.fromarray(np.vstack(rows)).save(args.save / f"synth_{i}_truth_{'_'.join(textures)}.png")
            Image.fromarray(np.hstack([t[::2, ::2, :3] for t in [run["truth"]] + list(textures.values())])).save(
                args.save / f"synth_{i}_albedo_truth_{'_'.join(textures)}.png")
    keys = [k for k in per["hand"][0] if k != "index"] if per["hand"] else []
    synthetic = {m: {k: summary([row[k] for row in rows]) for k in keys} for m, rows in per.items()}
    wins = {m: {k: int(sum((a[k] < h[k]) if not k.startswith("ssim") else (a[k] > h[k])
                           for a, h in zip(per[m], per["hand"]))) for k in keys} for m in methods if m != "hand"}

    from avatar_engine.build.fit import fit_landmarks
    from avatar_engine.build.image import load_photo
    from avatar_engine.build.perception import perceive
    from avatar_engine.build.texture import texture_from_fit

    photos = {}
    for name in PHOTOS:
        rgb = load_photo(photo_path(name))
        fit = fit_landmarks(perceive(rgb, builder.landmarker), model)
        t0 = time.perf_counter()
        hand = texture_from_fit(rgb, fit, model=model)
        textures, times = {"hand": hand.texture}, {"hand": time.perf_counter() - t0}
        for mode, net in nets.items():
            t0 = time.perf_counter()
            textures[f"network_{mode}"] = net_texture(net, rgb, fit, model, hand)
            times[f"network_{mode}"] = time.perf_counter() - t0 + (times["hand"] if mode == "refine" else 0.0)
        stem = Path(name).stem
        photos[stem] = {m: {"seam_median": round(seam_error(t, *skin_mesh), 3), "seconds": round(times[m], 3),
                            "mean_rgb_visible": [round(float(c), 1) for c in
                                                 t[..., :3][covered & (hand.seen > 0.5)].mean(0)]}
                        for m, t in textures.items()}
        if args.save:
            rows = [render_views(builder.ctx, fit.identity, t, hand.iris_rgb) for t in textures.values()]
            Image.fromarray(np.vstack(rows)).save(args.save / f"{stem}_{'_'.join(textures)}.png")
            Image.fromarray(np.hstack([t[::2, ::2, :3] for t in textures.values()])).save(
                args.save / f"{stem}_albedo_{'_'.join(textures)}.png")
    builder.close()
    result = {"benchmark": "texture_net", "seed": args.seed, "count": args.count, "samples": len(per["hand"]),
              "skipped": skipped, "load_average_start": [round(v, 2) for v in load_start],
              "load_average_end": [round(v, 2) for v in os.getloadavg()], "cpu_count": os.cpu_count(),
              "machine": platform.machine(), "models": {m: n.card for m, n in nets.items()},
              "synthetic": synthetic, "network_better_than_hand_count": wins,
              "seconds_per_photo": {m: summary(v) for m, v in seconds.items()}, "photos": photos,
              "per_sample": per}
    for net in nets.values():
        net.close()
    emit(result, args.out)


if __name__ == "__main__":
    main()
