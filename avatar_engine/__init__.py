"""avatar-engine: rigged, textured 3D head avatars from one photo, animated live."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `avatar_engine.build(image)`: imported on first use so that importing the package stays light
    if name == "build":
        import importlib

        return importlib.import_module("avatar_engine.build")
    raise AttributeError(f"module 'avatar_engine' has no attribute {name!r}")
