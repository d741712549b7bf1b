"""Dataset ``waveforms`` (kind ``sequences``): generated sequence classification.

Classes are wave shapes (sine, square, sawtooth, triangle, chirp) with random frequency, phase,
amplitude, length and noise; ``channels > 1`` adds phase-shifted, noisier copies, so models must
handle multivariate input. Deterministic per seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import harness
import harness.data

SHAPES = ("sine", "square", "sawtooth", "triangle", "chirp")
OPTIONS = {
    "classes": harness.Option(int, 4, f"how many wave shapes, 2–{len(SHAPES)}"),
    "per_class": harness.Option(int, 150, "series per class, before the split"),
    "min_length": harness.Option(int, 48, "shortest series"),
    "max_length": harness.Option(int, 64, "longest series (lengths vary in between)"),
    "channels": harness.Option(int, 1, "variables per time step"),
    "noise": harness.Option(float, 0.3, "noise standard deviation (amplitude is about 1)"),
    "seed": harness.Option(int, 0, "generator seed"),
}


def load_waveforms(options: Mapping[str, Any]) -> harness.data.SequenceData:
    import numpy as np

    if not 2 <= options["classes"] <= len(SHAPES):
        raise harness.DataError(f"waveforms: classes must be 2 to {len(SHAPES)}")
    if not 8 <= options["min_length"] <= options["max_length"]:
        raise harness.DataError("waveforms: need 8 <= min_length <= max_length")
    rng = np.random.default_rng(options["seed"])
    items = [(_wave(rng, SHAPES[c], options), c) for c in range(options["classes"])
             for _ in range(options["per_class"])]
    order = rng.permutation(len(items))
    items = [items[i] for i in order]
    n = len(items)
    cuts = (int(n * 0.6), int(n * 0.8))
    parts = (items[:cuts[0]], items[cuts[0]:cuts[1]], items[cuts[1]:])
    sets = [harness.data.SequenceSet(tuple(x for x, _ in p), tuple(y for _, y in p))
            for p in parts]
    train, val, test = sets
    return harness.data.SequenceData(train, val, test, classes=SHAPES[:options["classes"]])


def _wave(rng: Any, shape: str, options: Mapping[str, Any]) -> Any:
    import numpy as np

    length = int(rng.integers(options["min_length"], options["max_length"] + 1))
    t = np.arange(length) / length
    cycles = rng.uniform(1.5, 4.0)
    channels = []
    for c in range(options["channels"]):
        phase = rng.uniform(0, 2 * np.pi) + c * 0.7
        x = 2 * np.pi * cycles * t + phase
        if shape == "chirp":
            x = 2 * np.pi * cycles * t * (0.5 + 1.5 * t) + phase
        base = {"sine": np.sin(x), "square": np.sign(np.sin(x)),
                "sawtooth": 2 * ((x / (2 * np.pi)) % 1) - 1,
                "triangle": 2 * np.abs(2 * ((x / (2 * np.pi)) % 1) - 1) - 1,
                "chirp": np.sin(x)}[shape]
        amplitude = rng.uniform(0.7, 1.3)
        noise = options["noise"] * (1 + 0.5 * c)
        channels.append(amplitude * base + rng.normal(0, noise, length))
    return np.stack(channels, axis=1)


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="waveforms", data_kind=harness.data.SEQUENCES, load=load_waveforms, options=OPTIONS,
        description="generated wave-shape classification, variable length (no download)",
        test_options={"per_class": 10, "min_length": 16, "max_length": 24}))
