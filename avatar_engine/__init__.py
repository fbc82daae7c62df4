"""avatar-engine: rigged, textured 3D head avatars from one photo, animated live."""

__version__ = "0.1.0"
