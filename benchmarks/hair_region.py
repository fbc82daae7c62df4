"""The builder's hair region against the truth, on a synthetic set: how much of the hair it finds, and whether it
leaves bald heads bald and hatless heads without headwear.

    python benchmarks/hair_region.py --data DIR [--worst 10] [--out result.json]

DIR is a set made by `avatar synth` with images (as for benchmarks/hair_net.py). For every person MediaPipe found
a face in: the person segmenter and `build.hair_region.hair_region` on the photo, as the builder runs them. Reported:
- region IoU against the render's true hair mask, of the region as the builder uses it: a bare head it judges
  bald (`HairRegion.bald`: a few specks, no headwear) grows no hair and counts as empty, so a bald head left bald scores 1 and a
  head with hair judged bald scores 0;
- bald people (empty true mask): how many the region leaves bald, and the largest region found on one;
- headwear found (the sets have no hats: every one is a false alarm), and on whom;
- the worst cases (index, true hair colour, true and found pixels) to look at.
`benchmarks/hair_net.py` turns regions into fitted styles; this isolates the region.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image
from result_file import emit

from avatar_engine.build.hair_region import hair_region
from avatar_engine.perception.segmenter import PersonSegmenter
from avatar_engine.synth.dataset import load_with_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--worst", type=int, default=10, help="list this many worst cases")
    parser.add_argument("--out")
    args = parser.parse_args()
    load_average = os.getloadavg()[0]
    folder = Path(args.data)
    data, manifest = load_with_images(folder)
    size = manifest["size"]
    segmenter = PersonSegmenter()
    rows = []
    try:
        for i in np.flatnonzero(data["detected"]):
            rgb = np.asarray(Image.open(folder / "images" / f"{i:06d}.png").convert("RGB"))
            region = hair_region(rgb, segmenter.segment(rgb), data["landmarks"][i][:, :2] * size)
            truth = data["hair_mask"][i].astype(bool)
            # what the builder grows hair from: a bare head it judges bald grows none, whatever specks it holds
            used = np.zeros_like(region.mask) if region.bald and not region.headwear else region.mask
            union = int((used | truth).sum())
            rows.append({"index": int(i), "true_color": [int(c) for c in data["hair_color"][i]],
                         "true_px": int(truth.sum()), "found_px": int(region.mask.sum()),
                         "iou": round(float((used & truth).sum() / union) if union else 1.0, 4),
                         "region_bald": bool(region.bald),
                         "headwear_px": int(region.occluded.sum()) if region.occluded is not None else 0})
    finally:
        segmenter.close()
    ious = np.array([r["iou"] for r in rows])
    bald = [r for r in rows if r["true_px"] == 0]
    hats = [r for r in rows if r["headwear_px"] > 0]
    result = {
        "benchmark": "hair_region", "data": str(folder), "seed": manifest.get("seed"), "people": len(rows),
        "load_average": round(load_average, 2),
        "iou": {"mean": round(float(ious.mean()), 4), "median": round(float(np.median(ious)), 4),
                "p10": round(float(np.percentile(ious, 10)), 4)},
        "bald_people": len(bald), "bald_left_bald": sum(r["region_bald"] for r in bald),
        "largest_region_on_a_bald_head_px": max((r["found_px"] for r in bald), default=0),
        "false_headwear": len(hats), "false_headwear_on": [r["index"] for r in hats],
        "worst": sorted(rows, key=lambda r: r["iou"])[:args.worst],
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
