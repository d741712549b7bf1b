"""nn.Module classes of the text architectures (module level, so models pickle).

Every model maps B×L token ids (``int64``, 0 = padding) to B×classes logits and ignores
padding, so a text scores the same however long its batch's longest text is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _mask(ids: torch.Tensor) -> torch.Tensor:
    return (ids != 0).float()


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the non-padding positions of B×L×D ``x``."""
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)


class FastText(nn.Module):
    """Bag of token and hashed bigram embeddings, averaged, then a linear classifier."""

    def __init__(self, vocab: int, dim: int, ngrams: int, buckets: int, classes: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim, padding_idx=0)
        self.bigrams = nn.Embedding(buckets, dim) if ngrams > 1 else None
        self.buckets = buckets
        self.head = nn.Linear(dim, classes)
        nn.init.uniform_(self.tokens.weight, -1.0 / dim, 1.0 / dim)  # as fastText does

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = _mask(ids)
        total = (self.tokens(ids) * mask[..., None]).sum(1)
        count = mask.sum(1, keepdim=True)
        if self.bigrams is not None and ids.shape[1] > 1:
            pair_mask = mask[:, 1:] * mask[:, :-1]
            hashed = (ids[:, :-1] * 1000003 + ids[:, 1:]) % self.buckets
            total = total + (self.bigrams(hashed) * pair_mask[..., None]).sum(1)
            count = count + pair_mask.sum(1, keepdim=True)
        return self.head(total / count.clamp(min=1.0))


class TextCNN(nn.Module):
    """Convolutions of several widths over word embeddings, max-pooled over time."""

    def __init__(self, vocab: int, dim: int, widths: tuple[int, ...], maps: int,
                 dropout: float, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, maps, w) for w in widths)
        self.widest = max(widths)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(maps * len(widths), classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # Every window that starts in the text exists however much padding the batch added,
        # so a text scores the same in any batch (and at a fixed length in ONNX).
        ids = F.pad(ids, (0, self.widest - 1))
        x = self.embed(ids).transpose(1, 2)  # B×D×L
        pad = (ids == 0)[:, None, :]
        pooled = []
        for conv in self.convs:
            y = F.relu(conv(x))
            # a window that starts on padding is not a phrase of the text
            starts = pad[:, :, :y.shape[2]]
            pooled.append(y.masked_fill(starts, 0.0).amax(dim=2))
        return self.head(self.dropout(torch.cat(pooled, dim=1)))


class AttentionPool(nn.Module):
    """Additive attention over time: a learnt context vector scores each step."""

    def __init__(self, width: int, attention: int) -> None:
        super().__init__()
        self.project = nn.Linear(width, attention)
        self.context = nn.Linear(attention, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.context(torch.tanh(self.project(x)))[..., 0]
        scores = scores.masked_fill(mask == 0, -1e4)
        return (torch.softmax(scores, dim=1)[..., None] * x).sum(1)


def _reversal(mask: torch.Tensor) -> torch.Tensor:
    """Per row, the index that reverses its text and leaves its padding in place."""
    lengths = mask.sum(1, keepdim=True).long()
    steps = torch.arange(mask.shape[1], device=mask.device)[None]
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


class BiRNNAttention(nn.Module):
    """Bidirectional GRU or LSTM over embeddings, attention-pooled. The backward direction
    reads each text from its own last token, not from the batch's padding (two one-way
    networks and a per-row reversal, which exports to ONNX where packed sequences do not)."""

    def __init__(self, vocab: int, dim: int, cell: str, hidden: int, attention: int,
                 dropout: float, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.forward_rnn = rnn(dim, hidden, batch_first=True)
        self.backward_rnn = rnn(dim, hidden, batch_first=True)
        self.pool = AttentionPool(2 * hidden, attention)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = _mask(ids)
        x = self.embed(ids)
        order = _reversal(mask)[..., None].expand(-1, -1, x.shape[2])
        ahead, _ = self.forward_rnn(x)
        back, _ = self.backward_rnn(torch.gather(x, 1, order))
        back = torch.gather(back, 1, order[..., :1].expand(-1, -1, back.shape[2]))
        out = torch.cat([ahead, back], dim=2)
        return self.head(self.dropout(self.pool(out, mask)))


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and feed-forward block (attention written out, so it exports
    to ONNX with its padding mask)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ff = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(4 * width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.heads, -1).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # B×H×L×d
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(mask[:, None, None, :] == 0, -1e4)
        attended = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, length, width)
        x = x + self.dropout(self.out(attended))
        return x + self.dropout(self.ff(self.norm2(x)))


class TextTransformer(nn.Module):
    """Token and learnt position embeddings, encoder blocks, masked mean pooling."""

    def __init__(self, vocab: int, width: int, heads: int, layers: int, dropout: float,
                 max_length: int, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        self.position = nn.Embedding(max_length, width)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids[:, :self.position.num_embeddings]
        mask = _mask(ids)
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embed(ids) + self.position(positions)[None]
        for block in self.blocks:
            x = block(x, mask)
        return self.head(_masked_mean(self.norm(x), mask))
