"""``harness weights fetch``: fill a local folder with published timm weights, where a network
exists, so that machines without one (or later runs) load them with ``pretrained = "<folder>"``.

The folder uses the Hugging Face cache layout (``models--timm--<name>/snapshots/<rev>/``),
written by ``huggingface_hub`` itself: the same files timm would download, found again by the
builtin plugins' weight loader.
"""

from __future__ import annotations

from pathlib import Path

from harness._errors import HarnessError
from harness._errors import UsageError
from harness._errors import did_you_mean

__all__ = ["fetch_weights"]


def hub_repo(model: str) -> str:
    """The Hugging Face repository of a timm model's default (or tagged) weights."""
    import timm

    if not timm.is_model(model):
        raise UsageError(f"unknown timm model '{model}'{did_you_mean(model, timm.list_models())}")
    cfg = timm.models.get_pretrained_cfg(model)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise UsageError(f"timm publishes no hub weights for '{model}'")
    return str(repo)


def fetch_weights(models: list[str], folder: Path) -> list[Path]:
    """Download each model's weights into ``folder``; returns the snapshot folders."""
    from huggingface_hub import snapshot_download

    repos = [hub_repo(m) for m in models]  # every name checked before any download
    found = []
    for model, repo in zip(models, repos, strict=True):
        try:
            found.append(Path(snapshot_download(
                repo, cache_dir=str(folder),
                allow_patterns=["*.safetensors", "*.json", "pytorch_model.bin"])))
        except Exception as exc:
            reason = " ".join(str(exc).split())[:200]
            raise HarnessError(f"could not fetch weights for '{model}' ({repo}) from the Hugging "
                               f"Face hub (no network access?): {type(exc).__name__}: "
                               f"{reason}") from None
    return found
