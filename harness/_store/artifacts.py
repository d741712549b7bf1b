"""Where kept models live: a folder, or object storage (``s3://bucket/prefix``).

The location is ``[artifacts] uri`` (a folder relative to the task file, or a URL), else
``$HARNESS_ARTIFACTS``, else an ``artifacts`` folder beside the SQLite results file
(``results/artifacts`` for a server database). A model is published whole: locally its staged
folder is renamed into place; in object storage the weights go up first and the card — which
names the weights' checksum — last, so a reader never takes a half-published model. Object
storage goes through Arrow's filesystems (``pyarrow.fs``), the library the dataset cache
already uses for S3 and GCS. A studies shared by many machines needs a location they all see
(object storage or a shared folder): the default folder is local to each machine.

Trial checkpoints stay on the local disk: ``$HARNESS_CHECKPOINTS``, else a ``checkpoints``
folder beside the SQLite file (``results/checkpoints``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from harness._errors import StoreError
from harness._files import name_slug
from harness.data._remote import is_remote
from harness.data._remote import mask_secrets

__all__ = ["ArtifactStore", "artifact_root", "checkpoint_root", "is_remote", "mask_secret"]

_CARD, _WEIGHTS = "card.json", "model.safetensors"
_CHUNK = 8 << 20


def mask_secret(location: str) -> str:
    """A location with any secret in its URL masked (``user:***@``, ``?secret_key=***``),
    for messages and listings: the dataset cache's rule, one rule for every location."""
    return mask_secrets(location)


def _results_folder(db_url: str) -> Path:
    """The folder beside a SQLite results file, else ``results``."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent
    return Path("results").resolve()


def artifact_root(db_url: str, configured: str | None = None) -> str:
    """Where kept models go (see the module docstring)."""
    return configured or os.environ.get("HARNESS_ARTIFACTS") or str(
        _results_folder(db_url) / "artifacts")


def checkpoint_root(db_url: str) -> Path:
    """Where trial checkpoints go (local to the machine that trains)."""
    configured = os.environ.get("HARNESS_CHECKPOINTS")
    return Path(configured).expanduser() if configured else _results_folder(db_url) / \
        "checkpoints"


class ArtifactStore:
    """The kept models under one root (a folder or an object-storage URL)."""

    def __init__(self, root: str, db_url: str) -> None:
        self.remote = is_remote(root)
        # An object-storage URL may carry options (?endpoint_override=…): paths go before them.
        base, _, self.query = root.partition("?") if self.remote else (root, "", "")
        self.root = base.rstrip("/")
        self.staging_root = (Path(self.root) if not self.remote
                             else _results_folder(db_url) / "artifacts") / ".staging"

    def location(self, study_id: int, study: str, number: int) -> str:
        path = f"{self.root}/study-{study_id}-{name_slug(study)}/trial-{number}"
        return f"{path}?{self.query}" if self.query else path

    def staging(self, study_id: int, number: int) -> Path:
        """Where a trial's worker writes the files it offers (always local)."""
        return self.staging_root / f"study-{study_id}-trial-{number}"

    # -- publishing and removing ----------------------------------------------------------------

    def publish(self, staged: Path, location: str) -> None:
        """Move a staged model folder to ``location``, whole."""
        if self.remote:
            self._upload(staged, location)
            shutil.rmtree(staged, ignore_errors=True)
            return
        target = Path(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(staged, target)
        except OSError:  # another file system: copy beside, then rename into place
            temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            shutil.copytree(staged, temporary, dirs_exist_ok=True)
            os.replace(temporary, target)
            shutil.rmtree(staged, ignore_errors=True)

    def remove(self, location: str) -> None:
        if self.remote:
            fs, path = self._fs(location)
            with contextlib.suppress(OSError):
                fs.delete_dir(path)
            return
        shutil.rmtree(location, ignore_errors=True)

    def discard_staged(self, staged: str | Path) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    # -- reading ----------------------------------------------------------------------------------

    def fetch(self, location: str, cache: Path) -> Path:
        """A local folder holding the model at ``location`` (downloaded into ``cache`` from
        object storage, once)."""
        if not is_remote(location):
            folder = Path(location)
            if not (folder / _CARD).is_file():
                raise StoreError(f"kept model {location} is missing: its files are gone")
            return folder
        local = cache / hashlib.sha256(location.encode()).hexdigest()[:16]
        if not (local / _CARD).is_file():
            self._download(location, local)
        return local

    def _fs(self, location: str) -> tuple[Any, str]:
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(location)
        return filesystem, path

    def _upload(self, staged: Path, location: str) -> None:
        filesystem, base = self._fs(location)
        filesystem.create_dir(base, recursive=True)
        for name in (_WEIGHTS, _CARD):  # the card, which names the weights' checksum, last
            with open(staged / name, "rb") as source, \
                    filesystem.open_output_stream(f"{base}/{name}") as out:
                while chunk := source.read(_CHUNK):
                    out.write(chunk)

    def _download(self, location: str, local: Path) -> None:
        filesystem, base = self._fs(location)
        temporary = local.with_name(f".{local.name}.tmp-{os.getpid()}")
        temporary.mkdir(parents=True, exist_ok=True)
        try:
            for name in (_CARD, _WEIGHTS):
                with filesystem.open_input_stream(f"{base}/{name}") as stream, \
                        open(temporary / name, "wb") as out:
                    while chunk := stream.read(_CHUNK):
                        out.write(chunk)
            shutil.rmtree(local, ignore_errors=True)
            os.replace(temporary, local)
        except (OSError, FileNotFoundError) as exc:
            raise StoreError(f"kept model {mask_secret(location)} cannot be read: {exc}") \
                from None
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
