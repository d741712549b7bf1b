"""A spoken-digit corpus in the layout of the Free Spoken Digit Dataset, spoken by espeak-ng.

FSDD (8 kHz WAV, one file per utterance, recordings 0-4 of every speaker and digit are the
official test set) cannot be downloaded here, so this writes a corpus in its shape: 16 speakers
(espeak-ng's English voices and variants: accents, male and female, different pitch and speed
per utterance), 10 digits, 12 utterances each, each with room-like noise and a random gain,
resampled to 8 kHz. Utterances 0-1 of every speaker and digit are ``test/``, the rest ``train/``
(``audiofolder`` holds out ``val_fraction`` of train).

Needs espeak-ng (Debian: ``apt-get install espeak-ng``). Then runs the shipped
``tasks/audio_classification.toml`` with only ``[dataset]`` changed and prints the test
accuracy of its best trial:

    python benchmarks/speech_digits.py [--out /tmp/speech-digits] [--only-data]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
          "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = ("", "+f2", "+m3", "+f4")
SPEAKERS = [(v, variant) for i, v in enumerate(VOICES) for variant in VARIANTS[i % 2::2]]
PER_SPEAKER = 12
TEST_UTTERANCES = 2


def speak(word: str, voice: str, pitch: int, speed: int, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w",
                    str(path), word], check=True, capture_output=True)


def write_corpus(out: Path, seed: int = 0) -> Path:
    from scipy.signal import resample_poly

    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        for s, (voice, variant) in enumerate(SPEAKERS):
            for d, digit in enumerate(DIGITS):
                for u in range(PER_SPEAKER):
                    speak(digit, voice + variant, rng.randint(25, 75), rng.randint(130, 210), raw)
                    wave, rate = sf.read(raw, dtype="float32")
                    wave = resample_poly(wave, 8000, rate).astype(np.float32)
                    wave *= rng.uniform(0.3, 1.0)
                    wave += noise.standard_normal(len(wave)).astype(np.float32) * 0.005
                    split = "test" if u < TEST_UTTERANCES else "train"
                    folder = out / split / str(d)
                    folder.mkdir(parents=True, exist_ok=True)
                    sf.write(folder / f"{d}_speaker{s}_{u}.wav", wave, 8000, subtype="PCM_16")
    return out


def run_shipped(corpus: Path) -> None:
    """The shipped task file with only [dataset] changed, in a scratch folder."""
    shipped = (Path(__file__).resolve().parents[1] / "tasks" / "audio_classification.toml")
    text = shipped.read_text()
    head, rest = text.split("\n[dataset]\n", 1)
    rest = rest[rest.index("\n["):]  # drop the shipped [dataset] table
    dataset = (f'\n[dataset]\nname = "audiofolder"\npath = "{corpus}"\nsample_rate = 8000\n'
               "clip_s = 1.0\n")
    with tempfile.TemporaryDirectory() as folder:
        task = Path(folder) / "digits.toml"
        task.write_text(head + dataset + rest)
        subprocess.run([sys.executable, "-m", "harness", "run", str(task)], cwd=folder,
                       check=True)
        subprocess.run([sys.executable, "-m", "harness", "leaderboard", "--study",
                        "spoken-words"], cwd=folder, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) /
                        "speech-digits")
    parser.add_argument("--only-data", action="store_true")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    if not (args.out / "train").is_dir():
        write_corpus(args.out)
    count = sum(1 for _ in args.out.rglob("*.wav"))
    print(f"{count} utterances of {len(SPEAKERS)} speakers in {args.out}")
    if not args.only_data:
        run_shipped(args.out)


if __name__ == "__main__":
    main()
