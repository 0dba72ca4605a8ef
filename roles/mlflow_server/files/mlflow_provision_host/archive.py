"""Files of a backup: checksums, sizes, and tarballs packed and unpacked safely."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import tarfile
from pathlib import Path

from . import Failure

CHUNK = 1 << 20


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_size(path: Path) -> tuple[int, int]:
    """Bytes and files under path (0, 0 when it does not exist)."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except FileNotFoundError:
                pass  # removed while we walked
    return total, files


def own_like(path: Path, model: Path) -> None:
    info = model.stat()
    os.chown(path, info.st_uid, info.st_gid)


def pack(src: Path, dest: Path) -> int:
    """src's content as a gzipped tarball (numeric owners kept; empty when src does not exist
    yet); the number of files."""
    count = 0
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for root, dirs, names in os.walk(src):
            dirs.sort()
            for name in sorted(dirs + names):
                full = Path(root) / name
                tar.add(full, arcname=str(full.relative_to(src)), recursive=False)
                count += not full.is_dir()
    return count


def safe_members(tar: tarfile.TarFile):
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise Failure(f"refusing the archive member {member.name!r}: outside the directory")
        if member.issym() or member.islnk():
            raise Failure(f"refusing the archive member {member.name!r}: a link")
        if not (member.isfile() or member.isdir()):
            raise Failure(f"refusing the archive member {member.name!r}: not a file")
        yield member


def unpack_into(archive: Path, dest: Path, owner: str | None) -> None:
    """Replace dest's content with the archive's. Unpacked first into dest/.restoring (same file
    system, and dest may be a mount point), then swapped in entry by entry: a broken archive
    leaves dest as it was."""
    staging, previous = dest / ".restoring", dest / ".previous"
    dest.mkdir(mode=0o750, parents=True, exist_ok=True)
    for stale in (staging, previous):
        shutil.rmtree(stale, ignore_errors=True)
    staging.mkdir(mode=0o700)
    previous.mkdir(mode=0o700)
    with tarfile.open(archive, "r:gz") as tar:
        members = list(safe_members(tar))
        tar.extractall(staging, members=members, numeric_owner=True)  # noqa: S202 (checked above)
    if owner:
        account = pwd.getpwnam(owner)
        os.chown(dest, account.pw_uid, account.pw_gid)
        for root, dirs, names in os.walk(staging):
            for name in (os.path.join(root, n) for n in dirs + names):
                os.chown(name, account.pw_uid, account.pw_gid)
    for entry in dest.iterdir():
        if entry not in (staging, previous):
            os.rename(entry, previous / entry.name)
    for entry in staging.iterdir():
        os.rename(entry, dest / entry.name)
    shutil.rmtree(staging)
    shutil.rmtree(previous)
