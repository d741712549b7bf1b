"""Task ``text_classification``: a text in, one class out; cross-entropy; accuracy, macro-F1,
balanced accuracy.

The tokenizer is part of the search (``tokenizer``, ``vocab_size``, ``max_length``,
``lowercase``) and is fitted on the training split only: no validation or test text shapes the
vocabulary. Batches are tokenized as they are read (a Rust tokenizer encodes a batch in
microseconds), padded with id 0 to the batch's longest text, so a trial's memory does not grow
with the corpus. Models receive N×L ``int64`` token ids (``docs/plugins.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import harness
import harness.data
from harness_plugins._inference import files_with
from harness_plugins._inference import softmax_rows
from harness_plugins._labelled import METRICS
from harness_plugins._labelled import LabelledTask
from harness_plugins._seqdata import summarize_sequences
from harness_plugins._tokenize import KINDS
from harness_plugins._tokenize import cached_tokenizer
from harness_plugins._tokenize import encode

if TYPE_CHECKING:
    import torch

PARAMS = {
    "tokenizer": harness.Choice("word", KINDS, help="characters, words, or byte-pair merges"),
    "vocab_size": harness.Choice(8000, (1000, 4000, 8000, 16000),
                                 help="most frequent tokens kept (others: [UNK])"),
    "max_length": harness.Choice(128, (32, 64, 128, 256), help="tokens kept per text"),
    "lowercase": harness.Choice(True, (True, False), help="fold case before tokenizing"),
}


class TextClassificationTask(LabelledTask):  # type: ignore[misc]  # harness_plugins: Any to mypy
    """One trial's view of cached labelled texts."""

    def __init__(self, data: harness.data.CachedTexts, params: Mapping[str, Any], seed: int,
                 data_workers: int = 0) -> None:
        import torch

        self.data, self.params, self.classes = data, params, data.classes
        train = data.split("train")
        self.tokenizer = cached_tokenizer(data.path, train.all_texts, str(params["tokenizer"]),
                                          int(params["vocab_size"]), bool(params["lowercase"]))
        self.max_length = int(params["max_length"])
        self.generator = torch.Generator().manual_seed(seed)
        self.data_workers = data_workers

    def fetch(self, split: str, train: bool) -> Callable[[Any], tuple[Any, Any]]:
        table, tokenizer, length = self.data.split(split), self.tokenizer, self.max_length

        def fetch(index: Any) -> tuple[torch.Tensor, torch.Tensor]:
            import numpy as np
            import torch

            rows = np.asarray(index, dtype=np.int64)
            ids = encode(tokenizer, table.texts(rows), length)
            return torch.from_numpy(ids), torch.from_numpy(table.labels[rows])

        return fetch

    def split_size(self, split: str) -> int:
        return len(self.data.split(split))

    def inference_card(self) -> dict[str, Any]:
        """The fitted tokenizer itself and how texts were cut, for a kept model's card."""
        return {"input": "text", "tokenizer": self.tokenizer.to_str(),
                "max_length": self.max_length, "classes": list(self.classes)}

    def model_io(self) -> dict[str, Any]:
        return {"vocab_size": int(self.tokenizer.get_vocab_size()), "pad_id": 0,
                "max_length": self.max_length, "output_shape": (len(self.classes),),
                "num_classes": len(self.classes)}

    def example_input(self, batch_size: int, device: torch.device) -> torch.Tensor:
        import torch

        vocab = int(self.tokenizer.get_vocab_size())
        return torch.randint(2, max(3, vocab), (batch_size, self.max_length), device=device)


# -- harness model predict: a text file per sample, or one text per line --------------------

def _load_text(path: str, card: Any) -> str:
    try:
        return open(path, encoding="utf-8-sig").read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise harness.DataError(f"{path}: not a readable UTF-8 text file ({exc})") from None


def _prepare_texts(samples: Any, card: Any) -> Any:
    import torch
    from tokenizers import Tokenizer

    info = card["inference"]
    tokenizer = Tokenizer.from_str(info["tokenizer"])
    return torch.from_numpy(encode(tokenizer, [str(s) for s in samples], int(info["max_length"]),
                                   fixed=True))


INFERENCE = harness.InferenceSpec(
    inputs="texts: .txt files, one text each (UTF-8)",
    files=files_with({".txt", ".text", ".md"}, "text file"), load=_load_text,
    prepare=_prepare_texts,
    describe=lambda names, samples, logits, card: softmax_rows(
        names, logits, card["inference"]["classes"]))


def build(context: harness.TaskContext) -> TextClassificationTask:
    return TextClassificationTask(context.data, context.params, context.seed,
                                  context.data_workers)


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="text_classification", build=build, data_kind=harness.data.TEXTS,
        metrics=METRICS, primary_metric="accuracy", params=PARAMS, inference=INFERENCE,
        summarize_data=summarize_sequences, test_params={"vocab_size": 1000, "max_length": 32},
        description="classify texts (char, word or BPE tokens); accuracy, macro-F1, "
                    "balanced accuracy"))
