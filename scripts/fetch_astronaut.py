"""Copy scikit-image's `astronaut` photo (skimage.data.astronaut(), public domain, NASA) into assets/photos/.

    python scripts/fetch_astronaut.py [-o assets/photos/astronaut.png]

Downloads the scikit-image wheel without its dependencies (`pip download --no-deps`), takes the member
skimage/data/astronaut.png and checks it against the sha256 that scikit-image's own data registry lists for it.
scikit-image itself is not installed: the demo and the tests need only the one picture.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "scikit-image==0.25.2"
MEMBER = "skimage/data/astronaut.png"
SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
"""From skimage/data/_registry.py in that wheel ("data/astronaut.png")."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "assets" / "photos" / "astronaut.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("scikit_image-*.whl"))
        data = zipfile.ZipFile(wheel).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"{MEMBER} in {wheel.name} has sha256 {digest}, expected {SHA256}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.output.with_suffix(".tmp")
    tmp_out.write_bytes(data)
    tmp_out.replace(args.output)
    print(f"wrote {args.output} ({len(data)} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
