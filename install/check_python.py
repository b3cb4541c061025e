"""Is this interpreter one the homework supports? Exit 0 if so; otherwise print one
paragraph saying what works and how to choose it, and exit 2.

    python3 install/check_python.py [--shared]

With --shared, as root, the interpreter must also be one that other users can run (every
folder above it and its standard library open to them), as the grader needs. The one place that states the supported versions (SUPPORTED) and platforms. It runs before
any package is installed, so it uses the standard library only (and old syntax: a Python
that is too old must still be able to say so).
"""
import platform
import sys

SUPPORTED = ((3, 11), (3, 12), (3, 13))  # TensorFlow 2.21 has wheels for 3.10-3.13; Keras 3.15 needs 3.11+
VERSIONS = ", ".join("%d.%d" % v for v in SUPPORTED)
COLAB = "Google Colab (see README.md, section 'On Google Colab')"


def problem(version, system, machine):
    """Why (version, system, machine) cannot run the homework, or None."""
    machine = machine.lower()
    if tuple(version[:2]) not in SUPPORTED:
        return ("This is Python %d.%d, but the homework needs Python %s (TensorFlow and Keras have no "
                "packages for other versions). Install one of them and choose it, for example "
                "`make PYTHON=python3.12 ...` (on Windows without make: `py -3.12 -m venv .venv`). "
                "If you cannot install one, use %s." % (version[0], version[1], VERSIONS, COLAB))
    if system == "Darwin" and machine in ("x86_64", "i386"):
        return ("TensorFlow publishes no packages for Intel Macs any more, so the homework cannot run on "
                "this machine. Use %s, or a Linux or Windows machine." % COLAB)
    if system == "Windows" and machine in ("arm64", "aarch64"):
        return ("TensorFlow publishes no packages for Windows on ARM, so the homework cannot run on "
                "this machine. Use %s, or WSL 2 on an x86-64 Windows machine." % COLAB)
    return None


def private_to_root():
    """As root: the first path of this interpreter (its binary, its standard library, or a
    folder above them) that other users cannot use, or None."""
    import os
    import stat

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    places = ((sys.executable, stat.S_IXOTH), (os.path.realpath(sys.executable), stat.S_IXOTH),
              (os.path.realpath(os.__file__), stat.S_IROTH), (sys.prefix, stat.S_IXOTH))
    for place, need in places:
        if not os.stat(place).st_mode & need:
            return place
        folder = os.path.dirname(place)
        while True:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return folder
            if os.path.dirname(folder) == folder:
                break
            folder = os.path.dirname(folder)
    return None


def main():
    reason = problem(sys.version_info, platform.system(), platform.machine())
    if not reason and "--shared" in sys.argv:
        hidden = private_to_root()
        if hidden:
            reason = ("%s can only be used by root (%s is closed to other users), but the grader runs student "
                      "code as an unprivileged user." % (sys.executable, hidden))
    if reason:
        print(reason, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
