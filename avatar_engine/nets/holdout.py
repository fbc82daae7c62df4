"""The samples a trainer holds out to measure its network on: some, or a refusal that says how many it needs."""

from __future__ import annotations

import math

from avatar_engine.errors import InputError


def held_out_or_refused(samples: int, held_out: int, fraction: float, least: int = 1) -> None:
    """InputError when `fraction` > 0 of `samples` rounds to no held-out sample: training went on and wrote a network
    (over the shipped one, without -o) with its validation loss NaN and exit code 0. A fraction of 0 asks for none.
    least : the fewest samples the trainer holds any out of."""
    if fraction > 0 and held_out == 0:
        needed = max(math.floor(0.5 / fraction) + 1, least)  # round() halves to even: n * fraction must pass 0.5
        raise InputError(f"{samples} sample{'s leave' if samples != 1 else ' leaves'} none to hold out for validation "
                         f"({fraction:.0%} of them): a network measured on nothing would be written; make a set of "
                         f"at least {needed} samples")
