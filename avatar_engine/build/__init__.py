"""photo -> Avatar: perception, fit, texture, hair, rig; one module per stage.

`avatar_engine.build(image)` is this package called as a function: the issue's API names the package and the
function alike, and Python binds `avatar_engine.build` to this package once any of its modules is imported, so
the package itself is made callable. Calling it imports the pipeline (and MediaPipe) only then.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, image, options=None):
        """avatar_engine.build(image) -> Avatar: see `avatar_engine.build.pipeline.build`."""
        from avatar_engine.build.pipeline import build

        return build(image, options)


sys.modules[__name__].__class__ = _CallablePackage

_PIPELINE_NAMES = ("Builder", "BuildOptions", "BuildResult", "build_to_file")
"""Taken from the pipeline when first asked for (`from avatar_engine.build import Builder` was an ImportError)."""


def __getattr__(name: str):
    if name in _PIPELINE_NAMES:
        from avatar_engine.build import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
