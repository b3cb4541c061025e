"""The judge's secret: the key its measuring inputs are drawn from.

Every value a test checks is computed on inputs drawn from a generator seeded with
SHA-256(key, part, submission digest, seed): no student process ever sees the key, so
the inputs cannot be predicted, yet regrading the same submission with the same key gives
the same numbers. `make autograder` puts a fresh key into the Gradescope zip (setup.sh
makes it readable by root only); elsewhere the first grading creates autograder/judge.key.
"""
import hashlib
import os
import secrets

import numpy as np

from ..config import settings

KEY_FILE = settings.PACKAGE / "judge.key"


def key(path=KEY_FILE):
    """The key (hex text), created with mode 0600 if there is none yet. A key that others
    can read (copied, unpacked or checked out with the wrong mode) is made private first."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip()
    except OSError:  # a read-only installation without a key: fresh numbers every run
        return secrets.token_hex(32)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


def fingerprint(key_text=None):
    """A short public name of the key (SHA-256 of it, 12 hex digits): which key graded, without
    telling anything about it."""
    return hashlib.sha256(("fingerprint\0" + (key_text or key())).encode()).hexdigest()[:12]


def digest(files):
    """SHA-256 of the submission's files (names and contents), as hex, each file read in blocks.

    Unambiguous: each file's contents are hashed on their own, and the digest hashes the sorted
    list of (name, SHA-256 of contents) with every name preceded by its length, so no two
    different sets of files give the same stream (the first scheme, `name\\0contents\\0` without
    lengths, gave {a: "x\\0b\\0y"} the digest of {a: "x", b: "y"}). The digest seeds the secret
    inputs, and this file is part of the grader's stamp, so a record measured under another
    scheme is graded again, never re-scored (record.measured_key)."""
    entries = []
    for path in files:
        contents = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                contents.update(block)
        entries.append((path.name.encode("utf-8", "surrogateescape"), contents.digest()))
    h = hashlib.sha256(b"submission digest 2\0")
    for name, contents in sorted(entries):
        h.update(len(name).to_bytes(8, "big") + name + contents)
    return h.hexdigest()


def generator(*labels, key_text=None):
    """A numpy generator seeded from the key and `labels`: one stream per (part, purpose)."""
    text = "\0".join([key_text or key(), str(settings.SEED), *labels])
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest(), "big"))
