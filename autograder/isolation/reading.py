"""Reading what a process of a grading left, defensively: regular files only, no link
followed, never a read that could block, bounded sizes, no pickles, no decompression bombs;
the judge's own copies of what a process exported are private (0700 folders, 0600 files)."""
import io
import json
import os
import stat
import zipfile

import numpy as np

NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has no symbolic-link flag; locate() skips links
MAX_REPORT_BYTES = 2_000_000
MAX_ARRAYS_BYTES = 64_000_000  # compressed or not, on disk and once loaded
MAX_ARTIFACT_BYTES = 300_000_000  # what one part may export, at apparent size (the reference's largest: a few MB)
MAX_ARTIFACT_FILES = 500


def open_regular(path):
    """(descriptor, stat) of `path` opened read-only if it is a regular file (no link followed,
    never blocking on a FIFO or device), else (None, None). The caller closes the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | NO_FOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None, None
    try:
        info = os.fstat(fd)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None, None
    return fd, info


def safe_read(path, limit):
    """The bytes of `path` if it is a regular file (not a link, FIFO or device) of at most
    `limit` bytes, else None. Never blocks, never reads more than limit + 1 bytes."""
    fd, info = open_regular(path)
    if fd is None:
        return None
    try:
        if info.st_size > limit:
            return None
        data = bytearray()
        while len(data) <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return bytes(data)
            data += chunk
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def read_json(path):
    data = safe_read(path, MAX_REPORT_BYTES)
    try:
        value = json.loads(data) if data is not None else {}
    except (ValueError, RecursionError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def read_arrays(path):
    """Arrays of an .npz written by a process, or {} if missing, malformed or too large."""
    data = safe_read(path, MAX_ARRAYS_BYTES)
    if data is None:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:  # refuse a decompression bomb unopened
            if sum(info.file_size for info in archive.infolist()) > MAX_ARRAYS_BYTES:
                return {}
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception:  # noqa: BLE001 - anything malformed is simply no data
        return {}


def safe_copy(source, target, limit):
    """Copy `source` to a new private file `target` (0600) in blocks, if it is a regular file
    (not a link, FIFO or device) whose apparent size is at most `limit` bytes: a sparse file
    counts whole, since copying makes it dense. Returns the bytes copied, 0 for a file that is
    not copied (not regular, unreadable), None when it exceeds `limit`."""
    fd, info = open_regular(source)
    if fd is None:
        return 0
    try:
        if info.st_size > limit:
            return None
        copied = 0
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW | getattr(os, "O_BINARY", 0),
                               0o600), "wb") as out:
            for block in iter(lambda: os.read(fd, 1 << 20), b""):
                copied += len(block)
                if copied > limit:  # it grew while being copied
                    return None
                out.write(block)
        return copied
    except OSError:
        return 0
    finally:
        os.close(fd)


def copy_tree(source, target, owner=None):
    """Copy the regular files and folders under `source` to `target` (links, FIFOs and
    devices are skipped) within MAX_ARTIFACT_BYTES and MAX_ARTIFACT_FILES, private to the
    copier (folders 0700, files 0600; `owner` gets them). Returns False when the limits were
    exceeded (the copy is then incomplete)."""
    budget = {"bytes": MAX_ARTIFACT_BYTES, "files": MAX_ARTIFACT_FILES}

    def walk(src, dst, depth):
        os.mkdir(dst, 0o700)
        if owner:
            os.chown(dst, *owner)
        try:
            entries = list(os.scandir(src))
        except OSError:
            return True
        for entry in entries:
            budget["files"] -= 1
            if budget["files"] < 0:
                return False
            if entry.is_dir(follow_symlinks=False) and depth < 6:
                if not walk(entry.path, os.path.join(dst, entry.name), depth + 1):
                    return False
            elif entry.is_file(follow_symlinks=False):
                path = os.path.join(dst, entry.name)
                copied = safe_copy(entry.path, path, budget["bytes"])
                if copied is None:
                    return False
                budget["bytes"] -= copied
                if owner and os.path.exists(path):
                    os.chown(path, *owner)
        return True

    return walk(str(source), str(target), 0)

