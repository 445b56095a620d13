"""Atomic, symlink-safe file writes: every file this package writes goes through here.

A file is written under a fresh, unpredictable name in its own directory, created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` (so neither an existing file nor a symlink planted there is ever
opened), flushed to disk, then renamed over the target with :func:`os.replace`, which replaces a
symlink at the target rather than following it. A crash leaves the old file (or none) and at most
a ``.NAME.XXXXXXXX.tmp`` file, never a half-written target; :func:`remove_stale` clears those.
:func:`check_output` says whether an output may be written at all (it replaces no input and lies
in no data folder); :func:`locked_folder` keeps a folder (a run directory) to one process at a time.
A write that fails for want of space, whatever the writing library makes of it (torch's
``[enforce fail at inline_container.cc]``, safetensors' ``SafetensorError``), raises
:class:`DiskFullError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from context_encoder.names import shown

_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
          | getattr(os, "O_BINARY", 0))
_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(\.\w+)?$")  # the names made by _create


class DiskFullError(OSError):
    """No space (or quota) left for a file: ``No space left on device: cannot write PATH``."""

    def __str__(self) -> str:
        return f"No space left on device: cannot write {shown(self.filename)} (free some space, or write elsewhere)"


_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_TEXTS = ("No space left on device", "os error 28", "Disk quota exceeded", "os error 122")


def disk_full(err: BaseException) -> bool:
    """Whether ``err``, or an error it was raised from or during, says the disk (or quota) is full."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return True
        if any(text in str(err) for text in _FULL_TEXTS):
            return True
        err = err.__cause__ or err.__context__
    return False


def _no_room(folder: Path) -> bool:
    """Whether ``folder``'s file system has (next to) no space left for an unprivileged writer."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def full_disk_error(err: BaseException, path: str | Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``path`` if the failed write ``err`` comes from a full disk,
    else None. Ask before a failed write's temporary file is deleted: torch's zip writer reports a
    failed write as ``unexpected pos`` and may lose the cause, so a full file system counts then."""
    if not isinstance(err, Exception):
        return None
    if disk_full(err) or ("inline_container" in str(err) and _no_room(Path(path).absolute().parent)):
        return DiskFullError(errno.ENOSPC, "No space left on device", str(path))
    return None


def _create(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, empty file beside ``path`` that nobody else could have opened: (fd, its path)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name[:200]}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp  # 0o666 & ~umask, as open() would give
        except FileExistsError:
            continue
        except OSError as err:  # no inode left
            full = full_disk_error(err, path)
            if full is None:
                raise
            raise full from err
    raise FileExistsError(f"cannot create a temporary file beside {path}")


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """``with atomic_open(path) as f: f.write(...)``: ``path`` appears complete on success, else
    not at all (an existing file is then left as it was). Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        _discard(tmp, err, path)
    _fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def copy_file(source: str | Path, target: str | Path) -> None:
    """Copy ``source`` byte for byte to ``target`` atomically (a symlink at ``target`` is replaced)."""
    with open(source, "rb") as src, atomic_open(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """For libraries that take only a file name: a fresh file, created exclusively beside ``path``,
    renamed over ``path`` when the block succeeds and removed when it fails. It ends in ``path``'s
    suffix, for libraries that pick the format from it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create(path, f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        _discard(tmp, err, path)
    _fsync_dir(path.parent)


def _discard(tmp: Path, err: BaseException, path: Path) -> None:
    """Delete the temporary file of a failed write and re-raise ``err``, as :class:`DiskFullError`
    (naming ``path``) when the disk is full."""
    full = full_disk_error(err, path)  # before the temporary file frees its space
    tmp.unlink(missing_ok=True)
    if full is not None:
        raise full from err
    raise err


def open_append(path: str | Path) -> BinaryIO:
    """``path`` opened for appending, refusing to follow a symlink there (a log such as metrics.jsonl)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.fdopen(os.open(path, flags, 0o666), "ab")


def check_target(path: str | Path, *, overwrite: bool) -> None:
    """Raise OSError before any work unless ``path`` can be written: not a folder, absent or
    ``overwrite``, and inside a folder that exists (or can be made) and is writable."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} exists (pass --overwrite to replace it)")
    check_folder(path.absolute().parent, f"cannot write {path}")


def check_folder(folder: str | Path, what: str | None = None) -> None:
    """Raise OSError unless files can be written in ``folder``: it is (or can be made) a writable folder."""
    folder = Path(folder).absolute()
    what = what or f"cannot write in {folder}"
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{what}: no write permission in {folder}")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same resolved path (symlinks followed) or a hard link."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, symlinks followed."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents or same_file(path, folder)


Inputs = dict[str, "str | Path | list[str | Path] | None"]  # what -> a path, several, or None


def check_output(output: str | Path, *, files: Inputs | None = None, folders: Inputs | None = None) -> None:
    """Raise ValueError, before any work, if writing ``output`` (a file or a folder) would touch an
    input: replace one of ``files`` (photos, masks, weights, configs) or land inside one of
    ``folders`` (data read recursively, where it would be read back as input next time).

    Every command calls this with all of its inputs; paths are compared resolved and by inode.
    """
    for name, path in input_paths(files):
        if same_file(output, path):
            raise ValueError(f"output {output} would replace the {name} {path}")
    for name, folder in input_paths(folders):
        if inside(output, folder):
            where = "is" if same_file(output, folder) else "is inside"
            raise ValueError(f"output {output} {where} the {name} folder {folder}: it would be read back as "
                             "input; write it elsewhere")


def input_paths(inputs: Inputs | None) -> Iterator[tuple[str, Path]]:
    """(what, path) for every path given in ``inputs``."""
    for name, value in (inputs or {}).items():
        for path in value if isinstance(value, (list, tuple)) else [value]:
            if path is not None and str(path) != "":
                yield name, Path(path)


def remove_stale(folder: str | Path) -> list[Path]:
    """Delete the temporary files an interrupted write left in ``folder``; returns them."""
    folder = Path(folder)
    stale = [p for p in folder.iterdir() if _TEMP.match(p.name) and p.is_file() and not p.is_symlink()] \
        if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


LOCK_NAME = ".lock"


@contextlib.contextmanager
def locked_folder(folder: str | Path, *, user: str = "another process", hint: str = "") -> Iterator[Path]:
    """Hold an exclusive OS lock (``flock``) on ``folder/.lock`` for the block; yields the folder.

    Another process that asks meanwhile gets ``BlockingIOError("FOLDER is in use by USER (pid N):
    HINT")`` at once. The
    lock dies with its process, so a killed holder never blocks the next one. The lock file is
    removed on exit, and so are the folders made here that are still empty.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    created = [f for f in (folder, *folder.parents) if not f.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = _lock(path, f"{folder} is in use by {user}", f": {hint}" if hint else "")
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield folder
    finally:
        path.unlink(missing_ok=True)  # still held: a process that opened this file sees it gone, retries
        os.close(fd)
        with contextlib.suppress(OSError):  # rmdir: only if empty, so a run that wrote something keeps it
            for made in created:
                made.rmdir()


def _lock(path: Path, busy: str, hint: str) -> int:
    """An fd of ``path`` holding its flock; the file must still be ``path`` once locked (the holder
    before may have removed it after this process opened it)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BlockingIOError(f"{busy}{_holder(path)}{hint}") from None
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise BlockingIOError(f"{busy}{hint}")


def _holder(path: Path) -> str:
    """The holder's pid from a lock file as ' (pid N)', or '' when it cannot be read."""
    try:
        pid = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
