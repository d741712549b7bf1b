"""Dataset ``audiofolder``: formats and sample rates, stereo, clip length, broken files, the
split layouts, a long recording that never lands whole in memory, and the features."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch

import harness
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from harness_plugins._audio import read_clip
from harness_plugins._features import features_of
from harness_plugins._features import mel_filterbank
from harness_plugins._features import spec_augment

REGISTRY = installed_registry()
SPEC = REGISTRY.datasets.get("audiofolder")


def options(path, **extra):
    return {**{k: o.default for k, o in SPEC.options.items()}, "path": str(path),
            "sample_rate": 8000, "clip_s": 0.5, **extra}


def tone(freq, seconds, rate, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def write_corpus(root, per_class=6):
    """Two classes of tones, in WAV, FLAC and OGG, at 8, 16 and 44.1 kHz, mono and stereo."""
    formats = [("wav", 8000, 1), ("flac", 16000, 2), ("ogg", 44100, 1)]
    for label, freq in (("high", 1500.0), ("low", 300.0)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            ext, rate, channels = formats[i % 3]
            sf.write(root / label / f"{i}.{ext}", tone(freq * (1 + i / 50), 0.3 + 0.1 * i, rate,
                                                       channels), rate)


def test_formats_rates_and_channels_become_mono_clips_of_one_length(tmp_path):
    write_corpus(tmp_path / "clips")
    views = load_as_tasks_see_it(SPEC, options(tmp_path / "clips"), str(tmp_path / "cache"))
    assert views.sample_rate == 8000 and views.classes == ("high", "low")
    train = views.split("train")
    assert train.channels == 1 and set(train.lengths.tolist()) == {4000}
    total = sum(len(views.split(s)) for s in ("train", "val", "test"))
    assert total == 12 and not views.repairs


def test_resampling_keeps_the_pitch_and_short_clips_are_padded(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, tone(440.0, 0.2, 44100, channels=2), 44100)
    clip = read_clip(str(path), 8000, 0.5)
    assert clip.shape == (4000, 1)
    spectrum = np.abs(np.fft.rfft(clip[:1600, 0]))
    assert abs(np.argmax(spectrum) * 8000 / 1600 - 440) <= 5
    assert not clip[1700:].any()  # silence after the 0.2 s of sound


@pytest.mark.parametrize("strict", [False, True])
def test_empty_truncated_and_non_audio_files_are_skipped_and_counted(tmp_path, strict):
    write_corpus(tmp_path / "clips", per_class=8)
    (tmp_path / "clips" / "low" / "empty.wav").write_bytes(b"")
    (tmp_path / "clips" / "low" / "notes.wav").write_text("not a sound at all" * 20)
    whole = (tmp_path / "clips" / "high" / "0.wav").read_bytes()
    (tmp_path / "clips" / "high" / "cut.wav").write_bytes(whole[:len(whole) // 3])
    opts = options(tmp_path / "clips", strict=strict, val_fraction=0.25, test_fraction=0.25)
    if strict:
        with pytest.raises(harness.DataError, match=r"(cut|empty|notes)\.wav: .*strict = true"):
            load_as_tasks_see_it(SPEC, opts, str(tmp_path / "cache"))
        return
    views = load_as_tasks_see_it(SPEC, opts, str(tmp_path / "cache"))
    assert views.repairs == {"unreadable_skipped": 3}
    assert sum(len(views.split(s)) for s in ("train", "val", "test")) == 16


def test_train_val_test_folders_are_the_splits(tmp_path):
    for split in ("train", "val", "test"):
        write_corpus(tmp_path / "clips" / split, per_class=3)
    views = load_as_tasks_see_it(SPEC, options(tmp_path / "clips"), str(tmp_path / "cache"))
    assert [len(views.split(s)) for s in ("train", "val", "test")] == [6, 6, 6]


def test_a_two_hour_recording_never_lands_whole_in_memory(tmp_path):
    path = tmp_path / "long.wav"
    rate = 8000
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        block = (tone(200.0, 60.0, rate) * 0.5).astype(np.float32)
        for _ in range(120):  # two hours, one minute at a time: 115 MB on disk
            out.write(block)
    assert path.stat().st_size > 100e6
    tracemalloc.start()
    clip = read_clip(str(path), rate, 1.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert clip.shape == (8000, 1)
    assert peak < 2e6  # one second of audio, not two hours (115 MB)


def test_logmel_peaks_in_the_band_of_the_tone_and_mfcc_has_twenty_coefficients():
    rate = 8000
    waves = torch.from_numpy(np.stack([tone(f, 1.0, rate) for f in (300.0, 3000.0)])
                             ).float()[..., None]
    bank = mel_filterbank(rate, 256, 40)
    assert bank.shape == (129, 40) and float(bank.max()) == pytest.approx(1.0, abs=0.05)
    logmel = features_of(waves, "logmel", rate, 40, 10.0)
    assert logmel.shape == (2, 101, 40)
    peak = logmel.mean(dim=1).argmax(dim=1).tolist()
    assert peak[0] < 12 < 28 < peak[1]  # 300 Hz low in the mel bands, 3 kHz high
    assert features_of(waves, "mfcc", rate, 40, 10.0).shape == (2, 101, 20)


def test_spec_augment_masks_bands_and_spans_only_when_asked():
    x = torch.ones(8, 100, 40)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(spec_augment(x, "none", generator), x)
    masked = spec_augment(x, "strong", generator)
    zero_bands = (masked == 0).all(dim=1).sum()
    zero_frames = (masked == 0).all(dim=2).sum()
    assert zero_bands > 0 and zero_frames > 0
    assert (masked == 0).float().mean() < 0.5


def test_audio_classification_refuses_series_that_are_not_sound():
    spec = REGISTRY.tasks.get("audio_classification")
    waveforms = REGISTRY.datasets.get("waveforms")
    views = load_as_tasks_see_it(waveforms, {**{k: o.default for k, o in
                                                waveforms.options.items()},
                                             **waveforms.test_options})
    with pytest.raises(harness.DataError, match="needs sound"):
        spec.build(harness.TaskContext(views, {p: v.default for p, v in spec.params.items()},
                                       {}, 0))
