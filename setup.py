"""Packaging beyond pyproject.toml: the top-level `assets/` and `shaders/` folders ship inside the wheel as
avatar_engine/_data/assets and avatar_engine/_data/shaders (`avatar_engine.data_files` finds them there, or beside
the package in a checkout). pyproject.toml cannot list discovered packages and mapped folders together."""

from setuptools import find_packages, setup

DATA = {
    "assets": ["NOTICE", "head/*.npz", "head/*.png", "infer/*.json", "models/*.onnx", "models/*.json",
               "models/*.md", "photos/*.png"],
    "shaders": ["*.glsl", "lib/*.glsl"],
}

setup(
    packages=find_packages(include=["avatar_engine", "avatar_engine.*"]) + [f"avatar_engine._data.{n}" for n in DATA],
    package_dir={f"avatar_engine._data.{n}": n for n in DATA},
    package_data={f"avatar_engine._data.{n}": globs for n, globs in DATA.items()},
)
