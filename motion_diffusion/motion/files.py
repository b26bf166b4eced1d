"""Atomic file writes (write a temporary file beside the target, then rename), shared by every writer.

Temporaries are named ``.<target name>.<random>.tmp`` (files and folders alike), so that a process killed
mid-write leaves something ``remove_stale_temporaries`` recognises when the job is resumed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TEMP_SUFFIX = ".tmp"
LOCK_FILE = ".lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file next to ``path`` for writing; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_npy(path, array) -> None:
    """``np.save`` that never leaves a half-written file."""
    with atomic_open(path, "wb") as f:
        np.save(f, np.asarray(array))


def write_text(path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_open(path, "w") as f:
        f.write(text)


@contextmanager
def atomic_folder(path):
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(root) -> int:
    """Delete what writers killed mid-write left under ``root`` (recursively); return how many were removed.

    Call it only when no other process is writing under ``root`` (when a job starts or resumes).
    """
    root = Path(root)
    if not root.is_dir():
        return 0
    stale = list(root.rglob(f".*{TEMP_SUFFIX}"))
    for path in sorted(stale, key=lambda p: len(p.parts)):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    return len(stale)


@contextmanager
def exclusive_folder(path, job: str):
    """Hold a lock on the folder ``path`` (made if missing) so that two ``job`` processes never write it at once."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{path} is being written by another {job}; wait for it to finish") from None
        yield
