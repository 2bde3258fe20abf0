"""Crash-safe writes of private files (keystores, device keys, the names file)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_private(path: Path, text: str, *, replace: bool = False) -> None:
    """Writes `text` to `path` with mode 0600, atomically: a temporary dot-file in the same
    folder (0600 from creation), fsync, then a hard link (`replace=False`: never overwrites,
    `FileExistsError` if `path` exists) or a rename over `path`, then fsync of the folder.

    A crash at any point leaves either no file at `path` or the whole of it, never a part; at
    most a `.NAME.*.tmp` file is left behind, which readers of the folder skip.
    """
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Makes the new directory entry durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
