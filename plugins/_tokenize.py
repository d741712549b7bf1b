"""Tokenizers for ``text_classification``, fitted on the training split only.

Hugging Face ``tokenizers`` (Rust; fitting a BPE vocabulary on a few thousand messages takes
milliseconds, encoding a batch microseconds) provides the three kinds: ``char`` (a vocabulary
of characters), ``word`` (words and punctuation runs) and ``bpe`` (byte-pair merges, Sennrich
et al. 2016). Id 0 is padding and id 1 stands for anything outside the vocabulary. A fitted
tokenizer is kept as JSON beside the cached data it was fitted on, so later trials with the
same settings load it instead of fitting again, and a kept model carries it in its card.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

PAD, UNK = "[PAD]", "[UNK]"
KINDS = ("char", "word", "bpe")


def fit_tokenizer(texts: list[str], kind: str, vocab_size: int, lowercase: bool) -> Any:
    """A tokenizer of ``kind`` fitted on ``texts`` (the training split's, and only those)."""
    from tokenizers import Regex
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers
    from tokenizers import trainers

    specials = [PAD, UNK]
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer: Any = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                           show_progress=False)
    else:
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=specials,
                                            show_progress=False)
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")]
    tokenizer.normalizer = normalizers.Sequence(steps + ([normalizers.Lowercase()]
                                                         if lowercase else []))
    tokenizer.pre_tokenizer = (pre_tokenizers.Split(Regex("."), behavior="isolated")
                               if kind == "char" else pre_tokenizers.Whitespace())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def cached_tokenizer(folder: str, texts: Any, kind: str, vocab_size: int,
                     lowercase: bool) -> Any:
    """The tokenizer for these settings, fitted once per cached dataset: loaded from
    ``folder/tokenizers`` when an earlier trial fitted it, else fitted on ``texts()`` and
    written there atomically (a reader never sees half a file; two workers fitting at once
    write the same content)."""
    from tokenizers import Tokenizer

    key = hashlib.sha1(json.dumps([kind, vocab_size, lowercase]).encode()).hexdigest()[:16]
    path = Path(folder) / "tokenizers" / f"{kind}-{key}.json" if folder else None
    if path is not None and path.is_file():
        return Tokenizer.from_file(str(path))
    tokenizer = fit_tokenizer(texts(), kind, vocab_size, lowercase)
    if path is not None:
        try:
            path.parent.mkdir(exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            tokenizer.save(temporary)
            os.replace(temporary, path)
        except OSError:  # a read-only cache: the tokenizer still serves this trial
            pass
    return tokenizer


def encode(tokenizer: Any, texts: list[str], max_length: int, fixed: bool = False) -> Any:
    """Token ids, N×L ``int64`` right-padded with 0, L the longest text (at most
    ``max_length``, at least 1), or ``max_length`` itself when ``fixed`` (an exported model
    takes one length)."""
    import numpy as np

    encoded = [e.ids[:max_length] for e in tokenizer.encode_batch(texts,
                                                                   add_special_tokens=False)]
    width = max_length if fixed else max([1, *map(len, encoded)])
    out = np.zeros((len(encoded), width), dtype=np.int64)
    for row, ids in enumerate(encoded):
        out[row, :len(ids)] = ids
    return out
