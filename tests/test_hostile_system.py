"""Hostile submissions against the machine around the grader: secrets and other students'
files within a sandbox user's reach (the Gradescope zip with the key, a regrade export,
another grading's exported models), memory held outside the process tree (daemons, SysV
shared memory), and a helper file too large to read. Each earns exactly what its honest
parts earn, and leaves nothing behind."""
import json
import socket
import subprocess
import sys
import threading
import time
import zipfile

import pytest

from autograder.isolation import sandbox, users
from autograder.config import settings
from conftest import ROOT, full, message, needs_sandbox, numbers, reading_probe, zeros

pytestmark = pytest.mark.slow  # each test runs the grader
sys.path.insert(0, str(ROOT / "tools"))
import package  # noqa: E402
import regrade  # noqa: E402


def export_zip(path, students):
    """A Gradescope export: one folder per submission and submission_metadata.yml."""
    with zipfile.ZipFile(path, "w") as archive:
        metadata = []
        for k, name in enumerate(students):
            for file in ("vae.py", "assignment.py"):
                archive.writestr(f"export/submission_{k}/{file}", (ROOT / "solution" / file).read_text())
            metadata.append(f"submission_{k}:\n  :submitters:\n  - :name: {name}\n    :email: {name}@example.edu\n"
                            f"    :sid: '{k}'\n  :score: 100.0\n")
        archive.writestr("export/submission_metadata.yml", "".join(metadata))


@needs_sandbox
def test_the_gradescope_zip_and_a_regrade_export_are_out_of_reach(submission, grade_it, shared_folder):
    """The zip that carries the key is private from its first byte; a regrade unpacks every
    student's files, names and emails into a private folder. A submission graded on that
    machine cannot read either."""
    built = package.build("autograder", package.load(None), out=shared_folder / "dist")
    assert built.stat().st_mode & 0o077 == 0
    out = shared_folder / "regrade"
    out.mkdir(mode=0o755)
    export_zip(shared_folder / "export.zip", ["ada", "grace"])
    folder = regrade.unpack(shared_folder / "export.zip", out)
    assert (folder / "submission_metadata.yml").exists() and out.stat().st_mode & 0o077 == 0
    patterns = [str(built), str(folder / "submission_metadata.yml"), str(folder / "submission_1" / "vae.py"),
                str(out / "**" / "*.py")]
    results, scores = grade_it(submission(vae_extra=reading_probe(patterns)), ["reparameterize"])
    assert scores == full("reparameterize"), results["tests"]


ARTIFACT_SPY = '''
import glob as _glob, os as _os, time as _time
_found = []
_deadline = _time.time() + 40
while _time.time() < _deadline and not _found:
    for _base in _glob.glob("/tmp/vae-grading-*"):
        for _part in ("vae", "cvae", "reparameterize", "loss"):
            for _path in (f"{_base}/artifacts-{_part}/model/saved_model.pb",
                          f"{_base}/artifacts-{_part}/model/variables/variables.data-00000-of-00001",
                          f"{_base}/artifacts-{_part}/functions/saved_model.pb"):
                try:
                    open(_path, "rb").read(1)
                    _found.append(_path)
                except OSError:
                    pass
    _time.sleep(0.05)
print("SPY FOUND", repr(_found))
'''


@pytest.mark.minutes(1)
@needs_sandbox
def test_another_gradings_exported_models_are_out_of_reach(submission, tmp_path):
    """While one grading exports and measures models, a concurrent one looks for them at the
    paths the grader uses (they are private to the judge). Both are graders of their own, as on
    a machine that regrades two submissions at once."""
    other = tmp_path / "other"
    other.mkdir()
    for name in ("vae.py", "assignment.py"):
        (other / name).write_text((ROOT / "solution" / name).read_text())
    grader = [sys.executable, "-m", "autograder", "--quiet", "--submission"]
    first = subprocess.Popen(grader + [str(other), "--results", str(tmp_path / "other.json"),
                                       "--stages", "vae,cvae,reparameterize,loss"], cwd=ROOT, stdout=subprocess.DEVNULL)
    time.sleep(3)
    folder = submission(vae_extra=ARTIFACT_SPY)
    second = subprocess.run(grader + [str(folder), "--results", str(tmp_path / "spy.json"), "--stages", "reparameterize"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, timeout=600)
    first.wait(timeout=600)
    assert second.returncode == 0 and json.loads((tmp_path / "other.json").read_text())["score"] > 0
    spied = json.loads((tmp_path / "spy.json").read_text())
    assert "SPY FOUND" in spied["output"], "the spy never ran, so this test proves nothing"
    assert "SPY FOUND []" in spied["output"], spied["output"]
    scores = {e["number"]: e["score"] for e in spied["tests"]}
    assert {n: scores[n] for n in numbers("reparameterize")} == full("reparameterize")


DAEMONS = '''
import os as _os, time as _time
for _ in range(3):
    if _os.fork() == 0:
        _os.setsid()
        if _os.fork() == 0:
            _hold = bytearray(600 * 2**20)  # touched: resident
            for _k in range(0, len(_hold), 4096):
                _hold[_k] = 1
            _time.sleep(600)
        _os._exit(0)
_time.sleep(8)
'''

SYSV = '''
import ctypes as _ctypes, time as _time
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = _ctypes.c_void_p
for _ in range(3):
    _id = _libc.shmget(0, 600 * 2**20, 0o1600)  # IPC_PRIVATE, IPC_CREAT, mode 600
    _at = _libc.shmat(_id, None, 0)
    _ctypes.memset(_at, 1, 600 * 2**20)
    _libc.shmdt(_ctypes.c_void_p(_at))
_time.sleep(8)
'''


def sysv_segments_of_sandbox_users():
    return [o for uid in range(users.UID_BASE, users.UID_BASE + 2 * users.UID_SLOTS + 1)
            for o in users.sysv_objects(uid)]


@needs_sandbox
@pytest.mark.parametrize("holder", [DAEMONS, SYSV], ids=["double-forked daemons", "SysV shared memory"])
def test_memory_held_outside_the_process_tree_counts_and_is_freed(holder, submission, grade_it):
    """1.8 GB held by daemons that left the process tree, or in SysV shared memory after the
    process detached it, against a 1.5 GB limit: the part is stopped, the other is graded,
    and nothing is left."""
    loss = "    # BEGIN SOLUTION\n    kl = -0.5 * tf.reduce_sum("
    folder = submission(vae=[(loss, "\n".join("    " + line for line in holder.splitlines()) + "\n" + loss)])
    limits = settings.Limits().scaled(memory_mb=1500, unit_timeout=60)
    results, scores = grade_it(folder, ["loss", "reparameterize"], limits)
    assert scores == {**zeros("loss"), **full("reparameterize")}, results["tests"]
    assert "out of memory" in message(results, "2.1"), message(results, "2.1")
    assert not sysv_segments_of_sandbox_users()


def test_a_sparse_export_is_refused_unread(submission, grade_it):
    """A sparse 790 MB file beside the exported graphs uses no disk blocks, but would be read and
    copied whole: the part is measured on nothing and says why; the other part is graded."""
    sparse = ("\nimport os as _os\n_os.makedirs('../artifacts', exist_ok=True)\n"
              "with open('../artifacts/padding.bin', 'wb') as _f:\n    _f.truncate(790 * 10**6)\n")
    reparam = "    # BEGIN SOLUTION\n    eps = tf.random.normal(tf.shape(mu))\n"
    folder = submission(vae=[(reparam, "\n".join("    " + line for line in sparse.splitlines()) + "\n" + reparam)])
    results, scores = grade_it(folder, ["reparameterize", "loss"])
    assert scores == {**zeros("reparameterize"), **full("loss")}, results["tests"]
    assert "exported more than 300 MB" in message(results, "1.1"), message(results, "1.1")


def test_a_huge_helper_file_is_left_out_unread(submission, grade_it):
    """A 1.5 GB helper module beside the student's files (3 MB zipped) is not read, hashed or
    copied: the grading goes on without it and says so."""
    folder = submission()
    with open(folder / "weights_table.py", "wb") as huge:
        huge.truncate(1_500_000_000)  # sparse: costs no disk here, but 1.5 GB to read
    start = time.monotonic()
    results, scores = grade_it(folder, ["reparameterize"])
    assert scores == full("reparameterize")
    assert "left out of the grading" in results["output"] and "weights_table.py" in results["output"]
    assert time.monotonic() - start < 120


NETWORK_PROBE = '''
import socket as _socket
try:
    with _socket.create_connection(("127.0.0.1", PORT), timeout=3) as _connection:
        _connection.sendall(b"the judge's inputs, say")
    _OUTCOME = "connected"
except OSError as _error:
    _OUTCOME = type(_error).__name__
open(NET_FILE, "w").write(_OUTCOME)
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp is Linux's")
def test_student_code_cannot_reach_the_network_where_a_namespace_is_refused(monkeypatch, submission, grade_it,
                                                                            shared_folder, without_landlock):
    """As in Docker without CAP_SYS_ADMIN: unshare(CLONE_NEWNET) is refused, so only the seccomp
    filter stands between student code and a TCP server on 127.0.0.1 (started here). Without
    the filter the same code connects, which shows the test can see a connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0].recv(100))
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setattr(sandbox, "can_cut_network", lambda: False)
    net_file = shared_folder / "net"
    folder = submission(vae_extra=f"\nPORT = {server.getsockname()[1]}\nNET_FILE = {str(net_file)!r}\n" + NETWORK_PROBE)
    try:
        outcomes = {}
        for seccomp in (False, True):
            monkeypatch.setattr(sandbox, "can_refuse_sockets", lambda seccomp=seccomp: seccomp)
            results, scores = grade_it(folder, ["reparameterize"])
            outcomes[seccomp] = (net_file.read_text(), len(accepted), results["output"])
            net_file.unlink()
            assert scores == full("reparameterize")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert outcomes[False][:2] == ("connected", 1), outcomes[False]
    assert outcomes[True][:2] == ("PermissionError", 1), outcomes[True]
    assert "no network namespace" in outcomes[True][2] and "seccomp refused every socket" in outcomes[True][2]
    assert "THE NETWORK WAS REACHABLE" in outcomes[False][2]
