"""Third-party model files: the registry (names, hashes, licences, sources) and the verified cache.

    from avatar_engine.assets import model_path
    task = model_path("face_landmarker")   # verified path; fetched into the cache when missing

Importing this package reads nothing from disk and downloads nothing. `python -m avatar_engine.assets`
shows the cache state or fetches every model.
"""

from avatar_engine.assets.cache import default_cache_dir, sha256_file
from avatar_engine.assets.registry import (
    MODELS,
    ModelRecord,
    Registry,
    cache_state,
    default_registry,
    fetch_all,
    model_path,
    register_local,
)
from avatar_engine.assets.sources import Source, Url, WheelMember

__all__ = [
    "MODELS", "ModelRecord", "Registry", "Source", "Url", "WheelMember",
    "cache_state", "default_cache_dir", "default_registry", "fetch_all", "model_path", "register_local",
    "sha256_file",
]
