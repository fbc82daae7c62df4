"""glTF 2.0 binary (.glb) export and import of an `Avatar` (the layout: `avatar_engine.io.glb_format`)."""

from avatar_engine.io.glb_format import FORMAT_VERSION, MORPH_EPSILON, AvatarFileError
from avatar_engine.io.gltf_reader import read_glb
from avatar_engine.io.gltf_writer import write_glb

__all__ = ["FORMAT_VERSION", "MORPH_EPSILON", "AvatarFileError", "read_glb", "write_glb"]
