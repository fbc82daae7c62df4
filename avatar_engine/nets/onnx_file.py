"""The trainers' ONNX files: a graph made into a checked opset-17 model and written atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from avatar_engine.errors import InputError, ModelError
from avatar_engine.paths import atomic_path, errors_named, json_text, replace_together, temporary_beside

OPSET = 17
IR_VERSION = 8
"""ONNX IR 8 (ONNX 1.13+): what ONNX Runtime and our torch backend read; newer writers default higher."""


def write_model(graph, path: Path) -> None:
    """Wrap `graph` (an onnx GraphProto) in an opset-17 model, check it, and write it to `path` through a
    temporary name and a rename (never a partial file)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    bad = [t.name for t in graph.initializer if not np.isfinite(numpy_helper.to_array(t)).all()]
    if bad:  # NaN in the data (or a diverged run) trained "successfully" into a network that blanked heads
        raise InputError(f"training gave weights that are not numbers ({len(bad)} tensors, e.g. {bad[0]}): the data "
                         "holds NaN or infinite values, or the run diverged; nothing was written")
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="avatar-engine")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))


def write_network(output: Path, card: dict, write: Callable[[Path], None]) -> dict:
    """`write(path)` makes the .onnx; it and its card (`output` with .json, given the network's sha256) are each
    written to a temporary name, then renamed together (`paths.replace_together`): a full disk between the two
    left a network without its card, and over the shipped model a new network beside the old card, which builds
    then refused as damaged. Returns the card."""
    from avatar_engine.assets.cache import sha256_file

    card_path = output.with_suffix(".json")
    net_tmp, card_tmp = temporary_beside(output), temporary_beside(card_path)
    try:
        with errors_named(net_tmp, output):
            write(net_tmp)
        card["onnx_sha256"] = sha256_file(net_tmp)  # ties the card to these bytes (`check_card_binding`)
        with errors_named(card_tmp, card_path):
            card_tmp.write_text(json_text(card, 1) + "\n")
        replace_together([(net_tmp, output), (card_tmp, card_path)])
    finally:
        net_tmp.unlink(missing_ok=True)
        card_tmp.unlink(missing_ok=True)
    return card


def check_card_binding(card: dict, path: Path, hint: str) -> None:
    """ModelError when the card names the sha256 of its network (`onnx_sha256`, written by the trainers) and the file
    at `path` is another: damaged bytes that still parse changed the avatar silently, and a card left from an earlier
    training described a network it was not made for. A card without the field (made before it existed) passes."""
    if "onnx_sha256" not in card:
        return
    expected = card["onnx_sha256"]
    if not (isinstance(expected, str) and len(expected) == 64):  # null or damaged: the check must not switch off
        raise ModelError(f"{Path(path).name}'s card has no sha256 of its network (onnx_sha256 is {expected!r}): "
                         f"damaged; {hint}")
    from avatar_engine.assets.cache import sha256_file

    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"cannot read {path} ({exc.strerror or exc}); {hint}") from None
    if actual != expected:
        raise ModelError(f"{Path(path).name} is not the network its card was written for (sha256 {actual[:16]}..., "
                         f"the card says {str(expected)[:16]}...): damaged or replaced; {hint}")
