"""Cache entries in object storage (S3, GCS), so many machines read one prepared copy.

``HARNESS_CACHE=s3://bucket/prefix`` (or ``gs://…``) names the shared place; Arrow's own
filesystems talk to it (``pyarrow.fs``: credentials and region from the usual environment;
an S3-compatible server by ``?endpoint_override=host:port&scheme=http`` on the URL). Each
machine keeps a local copy of the entries it uses and maps that; the shared copy is only ever
downloaded whole, or uploaded whole with its manifest last — so a reader never sees a half
uploaded entry (a manifest whose files are missing or short is not used).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from harness._errors import ResourceError

__all__ = ["RemoteCache", "is_remote", "mask_secrets", "secrets_of"]

_SECRET_OPTIONS = re.compile(r"secret|password|token|key$", re.IGNORECASE)
_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]*)@")

_CHUNK = 8 << 20


def is_remote(location: str) -> bool:
    return location.split("://", 1)[0] in ("s3", "gs", "gcs") if "://" in location else False


def secrets_of(url: str) -> list[str]:
    """The parts of an object-storage URL no message may show: the password of
    ``s3://KEY:SECRET@bucket`` and option values such as ``?secret_key=…``."""
    # The password runs to the "@": an AWS secret key may hold "/", which ends a URL's netloc.
    password = _PASSWORD.search(url)
    found = [password.group(1)] if password and password.group(1) else []
    found += [value for name, value in parse_qsl(urlsplit(url).query)
              if value and _SECRET_OPTIONS.search(name)]
    return sorted(found, key=len, reverse=True)


def mask_secrets(text: str, url: str | None = None) -> str:
    """``text`` with every secret of ``url`` (by default, of ``text`` itself as a URL) shown
    as ``***`` — for messages and listings that name an object-storage location."""
    for secret in secrets_of(text if url is None else url):
        text = text.replace(secret, "***")
    return text


class RemoteCache:
    """The entries under one object-storage URL."""

    def __init__(self, url: str) -> None:
        from pyarrow import fs

        self.url = url
        self.safe_url = mask_secrets(url)
        try:
            self.fs, self.base = fs.FileSystem.from_uri(url)
        except Exception as exc:  # pyarrow's own types; its message may repeat the URL
            raise ResourceError(f"cannot open the shared dataset cache {self.safe_url}: "
                            f"{self.masked(' '.join(str(exc).split()))[:300]}") from None
        self.base = self.base.rstrip("/")

    def masked(self, text: str) -> str:
        """``text`` (an error message, say) with every secret of the URL as ``***``."""
        return mask_secrets(text, self.url)

    def _path(self, entry: str, name: str) -> str:
        return f"{self.base}/{entry}/{name}"

    def manifest(self, entry: str) -> dict[str, Any] | None:
        """The published manifest of ``entry``, when its shards are all there in full."""
        from pyarrow import fs

        info = self.fs.get_file_info(self._path(entry, "manifest.json"))
        if info.type != fs.FileType.File:
            return None
        with self.fs.open_input_stream(self._path(entry, "manifest.json")) as stream:
            manifest: dict[str, Any] = json.loads(stream.read())
        for shards in manifest.get("splits", {}).values():
            for shard in shards:
                found = self.fs.get_file_info(self._path(entry, shard["file"]))
                if found.type != fs.FileType.File or found.size != shard["bytes"]:
                    return None
        return manifest

    def download(self, entry: str, manifest: dict[str, Any], into: Path) -> None:
        """Copy the entry's shards, then its manifest, into the folder ``into``."""
        for shards in manifest["splits"].values():
            for shard in shards:
                self._copy_down(self._path(entry, shard["file"]), into / shard["file"])
        (into / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))

    def upload(self, entry: str, folder: Path, manifest: dict[str, Any]) -> None:
        """Publish a local entry: shards first, the manifest last."""
        self.fs.create_dir(f"{self.base}/{entry}", recursive=True)
        for shards in manifest["splits"].values():
            for shard in shards:
                self._copy_up(folder / shard["file"], self._path(entry, shard["file"]))
        self._copy_up(folder / "manifest.json", self._path(entry, "manifest.json"))

    def _copy_down(self, source: str, target: Path) -> None:
        with self.fs.open_input_stream(source) as stream, open(target, "wb") as out:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)

    def _copy_up(self, source: Path, target: str) -> None:
        with open(source, "rb") as stream, self.fs.open_output_stream(target) as out:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
