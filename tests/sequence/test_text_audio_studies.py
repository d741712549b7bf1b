"""Text and audio studies end to end through the real CLI: a headerless TSV corpus and a
folder of WAV files, the new metrics stored, the best model kept and predicting files in
PyTorch and ONNX Runtime exactly as the trial scored them; every text model scores a text
the same however much padding its batch holds."""

from __future__ import annotations

import csv
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from harness.testing import installed_registry
from tests.conftest import run_cli

TEXT_TASK = """\
[study]
name = "sms"
task = "text_classification"
seed = 0

[dataset]
name = "text"
path = "sms.tsv"
header = false
label = "1"
text = "2"
split = "3"

[search]
sampler = "random"
pruner = "none"
architectures = ["{arch}"]
optimizers = ["adamw"]
schedulers = ["cosine"]
lr = 0.01
batch_size = [16]

[search.space.text_classification]
tokenizer = "word"
vocab_size = 1000
max_length = 32

[budget]
n_trials = 1
epochs = 4

[device]
device = "cpu"
threads = 1

[artifacts]
keep = 1
"""

AUDIO_TASK = """\
[study]
name = "tones"
task = "audio_classification"
seed = 0

[dataset]
name = "audiofolder"
path = "clips"
sample_rate = 8000
clip_s = 0.5

[search]
sampler = "random"
pruner = "none"
architectures = ["{arch}"]
optimizers = ["adamw"]
schedulers = ["cosine"]
lr = 0.003
batch_size = [8]

[search.space.audio_classification]
features = "{features}"
n_mels = 32
augment = "none"

[search.space.logmel_cnn]
width = 16
blocks = 2

[search.space.m5]
channels = 32

[budget]
n_trials = 1
epochs = 4

[device]
device = "cpu"
threads = 1

[artifacts]
keep = 1
"""

HAM = ["see you at {n} tonight", "can you call me later {n}", "thanks for dinner {n}",
       "running late, bus {n}", "love you, sleep well {n}"]
SPAM = ["WIN a £{n}00 prize txt CLAIM to 8{n}123", "free ringtones! reply YES to 6{n}999",
        "urgent: your number won £{n}000, call 0900{n}"]


def _stored(db: Path, split: str) -> dict[str, float]:
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT name, value FROM harness_metrics WHERE split = ?",
                                (split,)).fetchall())


def _predict(db: Path, study: str, inputs: Path, out: Path, runtime: str) -> list[dict]:
    ran = run_cli("model", "predict", study, str(inputs), "--db", str(db), "--out", str(out),
                  "--runtime", runtime)
    assert ran.returncode == 0, ran.stderr
    with out.open() as fh:
        return list(csv.DictReader(fh))


def _agree(rows: dict[str, list[dict]]) -> None:
    for a, b in zip(rows["torch"], rows["onnx"], strict=True):
        assert a["prediction"] == b["prediction"]
        assert float(a["score"]) == pytest.approx(float(b["score"]), abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["textcnn", "birnn"])
def test_a_text_study_on_a_headerless_tsv_and_its_kept_model(tmp_path, arch):
    rng = random.Random(0)
    rows, test_texts = [], []
    for i in range(160):
        spam = i % 4 == 0
        text = rng.choice(SPAM if spam else HAM).format(n=i)
        split = "test" if i % 5 == 0 else "train"
        rows.append(f"{'spam' if spam else 'ham'}\t{text}\t{split}")
        if split == "test":
            test_texts.append(("spam" if spam else "ham", text))
    (tmp_path / "sms.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "task.toml").write_text(TEXT_TASK.replace("{arch}", arch))
    db = tmp_path / "r.db"
    ran = run_cli("run", str(tmp_path / "task.toml"), "--db", str(db), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    test = _stored(db, "test")
    assert {"accuracy", "macro_f1", "balanced_accuracy"} <= set(test)
    assert test["accuracy"] >= 0.9
    for n, (label, text) in enumerate(test_texts):
        (tmp_path / "inputs" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "inputs" / label / f"{n:03d}.txt").write_text(text, encoding="utf-8")
    outputs = {runtime: _predict(db, "sms", tmp_path / "inputs", tmp_path / f"{runtime}.csv",
                                 runtime) for runtime in ("torch", "onnx")}
    right = sum(r["prediction"] == Path(r["path"]).parent.name for r in outputs["torch"])
    assert right / len(test_texts) == pytest.approx(test["accuracy"], abs=1e-6)
    _agree(outputs)


def _tones(root: Path, per_class: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, freq in (("high", 1800.0), ("low", 250.0)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rate = (8000, 16000, 22050)[i % 3]
            t = np.arange(int(rate * rng.uniform(0.2, 0.7))) / rate
            wave = 0.4 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t)
            wave += 0.05 * rng.standard_normal(len(t))
            sf.write(root / label / f"{seed}_{i}.wav", wave, rate)


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "features"), [("logmel_cnn", "logmel"), ("m5", "waveform")])
def test_an_audio_study_on_a_wav_folder_and_its_kept_model(tmp_path, arch, features):
    for split, count, seed in (("train", 16, 0), ("val", 4, 1), ("test", 6, 2)):
        _tones(tmp_path / "clips" / split, count, seed)
    (tmp_path / "task.toml").write_text(AUDIO_TASK.replace("{arch}", arch)
                                        .replace("{features}", features))
    db = tmp_path / "r.db"
    ran = run_cli("run", str(tmp_path / "task.toml"), "--db", str(db), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    test = _stored(db, "test")
    assert test["balanced_accuracy"] >= 0.9
    outputs = {runtime: _predict(db, "tones", tmp_path / "clips" / "test",
                                 tmp_path / f"{runtime}.csv", runtime)
               for runtime in ("torch", "onnx")}
    right = sum(r["prediction"] == Path(r["path"]).parent.name for r in outputs["torch"])
    assert right / 12 == pytest.approx(test["accuracy"], abs=1e-6)
    _agree(outputs)


@pytest.mark.parametrize("arch", ["fasttext", "textcnn", "birnn", "text_transformer"])
def test_a_text_scores_the_same_whatever_padding_its_batch_holds(arch):
    registry = installed_registry()
    spec = registry.architectures.get(arch)
    from harness import ModelRequest

    torch.manual_seed(0)
    params = {name: p.default for name, p in spec.params.items()}
    model = spec.build(ModelRequest(arch, "text_classification",
                                    {"vocab_size": 50, "max_length": 40, "num_classes": 3,
                                     "output_shape": (3,), "pad_id": 0}, params)).eval()
    short = torch.tensor([[5, 6, 7, 8]])
    batch = torch.tensor([[5, 6, 7, 8, 0, 0, 0, 0, 0, 0], [9, 10, 11, 12, 13, 14, 15, 16, 17, 18]])
    with torch.inference_mode():
        alone, together = model(short), model(batch)[:1]
        padded = model(torch.nn.functional.pad(short, (0, 30)))
    assert torch.allclose(alone, together, atol=1e-5)
    assert torch.allclose(alone, padded, atol=1e-5)
