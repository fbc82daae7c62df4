"""Avatar files: glTF 2.0 binary (.glb) writer and reader."""

from avatar_engine.io.gltf import AvatarFileError, read_glb, write_glb

__all__ = ["AvatarFileError", "read_glb", "write_glb"]
