"""The results store's inter-process locks: an OS lock on local disks, a soft lock on network file systems.

`flock`/`fcntl` locks are not reliable on the file systems clusters share (NFS, Lustre, CIFS, ...): filelock
recommends its soft lock there, which is the exclusive creation of a marker file and holds wherever that
creation is atomic. The mode is chosen per results folder:

- `SKIPLESSONS_LOCK=soft` or `hard` chooses it for every folder (a user-facing switch, like
  `SKIPLESSONS_RESULTS`; README, "Where results are stored");
- unset or `auto`: soft where the folder lies on a network file system (read from `/proc/mounts`), hard elsewhere.

Every writer of one folder must use the same mode (the two kinds of lock do not see each other; `auto` gives
all the machines that mount a folder the same answer). The soft lock is filelock's lease: its holder renews it
while it writes, and a lease left by a crashed writer is taken over `LEASE_SECONDS` after its last renewal.
"""
from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, SoftFileLease

LOCK_MODES = ("auto", "hard", "soft")
#: file system types (as /proc/mounts names them) on which the soft lock is used in mode `auto`
NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
                        "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "9p", "afs", "panfs", "wekafs"})
#: seconds after its last renewal that a soft lock whose holder died is taken over
LEASE_SECONDS = 60.0


def lock_mode(folder) -> str:
    """"soft" or "hard": the lock the results folder `folder` gets (module docstring)."""
    mode = os.environ.get("SKIPLESSONS_LOCK", "auto").strip().lower() or "auto"
    if mode not in LOCK_MODES:
        raise ValueError(f"SKIPLESSONS_LOCK={mode!r} is not valid; choose one of {', '.join(LOCK_MODES)}")
    if mode != "auto":
        return mode
    return "soft" if fs_type(folder) in NETWORK_FS else "hard"


def fs_type(folder, mounts: str = "/proc/mounts") -> str:
    """The type of the file system holding `folder` (the longest mount point above it), or "" if unknown."""
    try:
        table = Path(mounts).read_text()
    except OSError:                    # no /proc (macOS, Windows): treated as a local disk
        return ""
    path = Path(folder).resolve()
    best, kind = -1, ""
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (path == point or point in path.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


def file_lock(folder, stem: str):
    """The lock of the result `stem` in `folder`: `.STEM.lock` (hard) or `.STEM.softlock` (soft)."""
    if lock_mode(folder) == "soft":
        return SoftFileLease(str(Path(folder) / f".{stem}.softlock"), lease_duration=LEASE_SECONDS)
    return FileLock(str(Path(folder) / f".{stem}.lock"))
