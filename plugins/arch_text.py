"""Text architectures for ``text_classification``: ``fasttext``, ``textcnn``, ``birnn`` and
``text_transformer``. Each receives B×L token ids and ``io["vocab_size"]``; the defaults are
the papers'.
"""

from __future__ import annotations

from typing import Any

import harness

TASKS = ("text_classification",)


def _io(request: harness.ModelRequest) -> tuple[int, int]:
    return int(request.io["vocab_size"]), int(request.io["num_classes"])


def build_fasttext(request: harness.ModelRequest) -> Any:
    """fastText (Joulin et al. 2017, "Bag of Tricks for Efficient Text Classification"): the
    average of word and hashed bigram embeddings, 10 hidden units, fed to a linear
    classifier. (The paper hashes bigrams into 10M buckets; 2^18 keeps the model small at no
    cost on corpora of this size.)"""
    from harness_plugins._text_modules import FastText

    vocab, classes = _io(request)
    p = request.params
    return FastText(vocab, int(p["dim"]), int(p["ngrams"]), 1 << 18, classes)


def build_textcnn(request: harness.ModelRequest) -> Any:
    """TextCNN (Kim 2014, "Convolutional Neural Networks for Sentence Classification"),
    CNN-rand: filter widths 3, 4, 5 with 100 maps each over 300-d embeddings, max-over-time
    pooling, dropout 0.5."""
    from harness_plugins._text_modules import TextCNN

    vocab, classes = _io(request)
    p = request.params
    return TextCNN(vocab, int(p["dim"]), (3, 4, 5), int(p["maps"]), float(p["dropout"]),
                   classes)


def build_birnn(request: harness.ModelRequest) -> Any:
    """Bidirectional GRU (or LSTM) with attention pooling (the word level of Yang et al. 2016,
    "Hierarchical Attention Networks for Document Classification"): 200-d embeddings, 50
    units per direction, a 100-d attention context."""
    from harness_plugins._text_modules import BiRNNAttention

    vocab, classes = _io(request)
    p = request.params
    return BiRNNAttention(vocab, int(p["dim"]), str(p["cell"]), int(p["hidden"]), 100,
                          float(p["dropout"]), classes)


def build_text_transformer(request: harness.ModelRequest) -> Any:
    """A small Transformer encoder (Vaswani et al. 2017, "Attention Is All You Need"):
    pre-norm blocks, learnt positions, masked mean pooling; 2 layers of width 128 with 4
    heads (the paper's base model is 6 × 512, far more than a few thousand texts support)."""
    from harness_plugins._text_modules import TextTransformer

    vocab, classes = _io(request)
    p = request.params
    return TextTransformer(vocab, int(p["width"]), int(p["heads"]), int(p["layers"]),
                           float(p["dropout"]), int(request.io["max_length"]), classes)


SPECS = (
    ("fasttext", build_fasttext, "fastText: averaged word and bigram embeddings (Joulin 2017)",
     {"dim": harness.Choice(10, (10, 50, 100), help="embedding size (the paper: 10)"),
      "ngrams": harness.Choice(2, (1, 2), help="1: words only; 2: also hashed bigrams")}),
    ("textcnn", build_textcnn, "TextCNN: convolutions of widths 3-5, max over time (Kim 2014)",
     {"dim": harness.Choice(300, (64, 128, 300), help="embedding size"),
      "maps": harness.Choice(100, (50, 100, 200), help="feature maps per width"),
      "dropout": harness.Float(0.5, 0.0, 0.6, help="dropout before the classifier")}),
    ("birnn", build_birnn, "bidirectional GRU/LSTM with attention pooling (Yang 2016)",
     {"cell": harness.Choice("gru", ("gru", "lstm"), help="recurrent cell"),
      "dim": harness.Choice(200, (64, 128, 200), help="embedding size"),
      "hidden": harness.Choice(50, (32, 50, 100), help="units per direction"),
      "dropout": harness.Float(0.2, 0.0, 0.5, help="dropout before the classifier")}),
    ("text_transformer", build_text_transformer,
     "small Transformer encoder, mean-pooled (Vaswani 2017)",
     {"width": harness.Choice(128, (64, 128, 256), help="model width"),
      "heads": harness.Choice(4, (2, 4), help="attention heads (must divide width)"),
      "layers": harness.Int(2, 1, 4, help="encoder blocks"),
      "dropout": harness.Float(0.1, 0.0, 0.3, help="dropout")}),
)


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    for name, build, description, params in SPECS:
        register(harness.ArchitectureSpec(name=name, build=build, tasks=TASKS,
                                          description=description, params=params))
