"""Files the package writes and reads back: atomic writes with fsync, tensors without pickle, and damaged files
set aside (issue #31; used by results, the data cache, training checkpoints and measurement files).

Every file is written through a temporary file in the same folder, flushed to disk (fsync) before the rename
and the folder synced after it, so a crash or a power loss leaves either the old file or the new one. Tensors
are read with `torch.load(weights_only=True)`, which builds tensors and plain containers only: a planted
pickle cannot run code. A file that fails to read or to validate is renamed `NAME.bad-TIME` (kept for a look,
never read again) with one warning naming it, and the caller starts over.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from filelock import FileLock, Timeout

#: what a temporary file of `atomic_write` is called: `.NAME.RANDOM.tmp` beside NAME
TMP_SUFFIX = ".tmp"
#: seconds a process waits for another's lock (on a result, a data cache, a run) before it gives up
LOCK_TIMEOUT = 600.0


class DamagedFile(ValueError):
    """A file the package wrote earlier is unreadable or fails its checks (the message names it)."""


def atomic_write(path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the folder.
    The temporary file is removed on any failure (a full disk, an exception, Ctrl-C)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, mode)           # mkstemp makes 0600; results are meant to be shared and committed
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):        # some file systems cannot open a folder; the rename still holds
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def remove_leftovers(path) -> list[Path]:
    """Remove the temporary files that writes of `path` left behind when they were killed (call it only while
    holding the lock that serialises those writes). Returns what was removed."""
    path = Path(path)
    gone = []
    for tmp in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            gone.append(tmp)
    return gone


def save_tensors(obj, path) -> None:
    """`torch.save` of `obj` (tensors, numbers, strings and containers of them) through `atomic_write`."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def load_tensors(path):
    """What `save_tensors` wrote, read with `weights_only=True` (no code runs); a DamagedFile naming `path` if
    it is not such a file (garbage, truncated, empty, or a pickle of anything but tensors and containers)."""
    path = Path(path)
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:            # noqa: BLE001 -- every way a damaged file fails is "damaged"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if "Weights only load failed" in reason or "weights_only" in str(e):
            reason = "it holds objects other than tensors and plain containers"
        raise DamagedFile(f"{path} is not a file this package wrote ({type(e).__name__}: {reason[:200]})") from None


def set_aside(path, reason: str) -> Path | None:
    """Rename a damaged `path` to `path.bad-TIME` with a warning saying why and where it went; returns the new
    name (None if it could not be renamed, e.g. it vanished: then there is nothing to read anyway)."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except OSError:
        warnings.warn(f"{reason}; it could not be set aside, and is ignored", RuntimeWarning, stacklevel=3)
        return None
    warnings.warn(f"{reason}; set aside as {aside.name}, starting over", RuntimeWarning, stacklevel=3)
    return aside


@contextlib.contextmanager
def wait_for(held: FileLock, what: str, timeout: float = LOCK_TIMEOUT):
    """Hold `held` for a `with` block: at once if it is free, else after a printed line saying what it waits
    for; a TimeoutError naming the lock file after `timeout` seconds."""
    try:
        held.acquire(timeout=0)
    except Timeout:
        print(f"waiting for {what}: another process holds {held.lock_file} (giving up after {timeout:g} s)",
              file=sys.stderr, flush=True)
        try:
            held.acquire(timeout=timeout)
        except Timeout:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}: another process holds "
                               f"{held.lock_file}") from None
    try:
        yield held
    finally:
        held.release()
