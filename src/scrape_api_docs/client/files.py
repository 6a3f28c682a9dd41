"""Where a download goes, and how it is written: to a temporary file beside the target,
checked against the server's checksum, then renamed (never a half file under the name)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from scrape_api_docs.api.models.responses import ExportInfo
from scrape_api_docs.client.errors import DownloadCorrupt


def target_path(path: str | os.PathLike[str], export: ExportInfo) -> Path:
    """``path`` itself, or the export's own file name inside it when it is a folder."""
    target = Path(path)
    if target.is_dir() or str(path).endswith(os.sep):
        return target / Path(export.filename).name
    return target


class PartFile:
    """A download in progress: ``write`` chunks, then ``finish`` (checked, renamed into
    place) or ``discard``."""

    def __init__(self, target: Path, export: ExportInfo) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        self.export = export
        self._digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        self._path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    def finish(self) -> Path:
        self._file.close()
        algorithm, _, expected = self.export.checksum.partition(":")
        if algorithm == "sha256" and expected and expected != self._digest.hexdigest():
            self.discard()
            raise DownloadCorrupt(
                f"{self.export.filename}: checksum {self._digest.hexdigest()} does not match "
                f"the server's {expected}; download it again"
            )
        os.replace(self._path, self.target)
        return self.target

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
