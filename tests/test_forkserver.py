"""The fork server (autograder/isolation/forkserver.py): a process it forks for the judge must be
what subprocess.Popen started before, a fresh `python -I` behind the same walls, with nothing of
the server in it but the modules it imported; and a server that is gone costs nothing but time."""
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from autograder.isolation import forkserver, landlock, users, watching
from conftest import sandboxed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")

LOOK = r"""
import json, os, socket, sys
found = {"ppid": os.getppid(), "own_session": os.getsid(0) == os.getpid(), "uid": os.getuid(),
         "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")), "env": dict(os.environ), "cwd": os.getcwd(),
         "argv": sys.argv, "main": __name__, "preloaded": "tensorflow" in sys.modules,
         "grader_modules": [m for m in sys.modules if m.startswith("autograder")],
         "stdin": os.readlink("/proc/self/fd/0"), "sockets": []}
for family in (socket.AF_INET, socket.AF_INET6):
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
        found["sockets"].append(int(family))
    except OSError:
        pass
try:
    open(sys.argv[1], "rb").close()
    found["outside"] = "read"
except OSError:
    found["outside"] = "refused"
print("to stderr", file=sys.stderr)
print(json.dumps(found))
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def server():
    assert users.become_subreaper()
    running = forkserver.server()
    assert running is not None and running.alive()
    return running


def look(server, tmp_path, status=0, walls=False, uid=None, cut_network=False, seccomp=False, rules=None):
    secret = tmp_path / "secret.txt"
    secret.write_text("staff only")
    secret.chmod(0o644)
    workdir = tmp_path / "work"
    workdir.mkdir(mode=0o777)
    forked = server.spawn([sys.executable, "-I", "-c", LOOK, str(secret), str(status)], workdir,
                          {"HOME": str(workdir), "ONLY": "this"}, walls, uid, cut_network, seccomp, rules)
    assert forked is not None
    out, _ = forked.communicate(timeout=120)
    lines = out.decode().strip().splitlines()
    return forked, json.loads(lines[-1]), lines[:-1]


def test_a_forked_process_is_the_judges_child_with_only_what_it_was_given(server, tmp_path):
    forked, found, before = look(server, tmp_path, status=3)
    assert forked.returncode == 3 and "to stderr" in before  # its status, and stderr joined to stdout
    assert found["ppid"] == os.getpid() and found["own_session"]  # adopted: the judge watches and reaps it
    assert found["env"] == {"HOME": str(tmp_path / "work"), "ONLY": "this"}  # nothing of the server's environment
    assert found["cwd"] == str(tmp_path / "work") and found["argv"][0] == "-c" and found["main"] == "__main__"
    assert found["fds"] == [0, 1, 2, 3]  # 3: listdir's own; not the server's socket, not the ruleset
    assert found["stdin"] == "/dev/null"
    assert found["preloaded"] and found["grader_modules"] == []  # the copy behind the walls is imported afresh


def test_a_forked_script_runs_as_main_and_an_exception_is_exit_1_with_its_traceback(server, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\nprint(sys.argv[1:], __name__)\nraise ValueError('planted')\n")
    forked = server.spawn([sys.executable, "-I", str(script), "x"], tmp_path, {}, False, None, False, False, None)
    out, _ = forked.communicate(timeout=60)
    assert forked.returncode == 1
    assert "['x'] __main__" in out.decode() and "ValueError: planted" in out.decode()


def test_forked_processes_draw_different_random_numbers(server, tmp_path):
    draws = set()
    for _ in range(2):
        forked = server.spawn([sys.executable, "-I", "-c", "import numpy, random; print(numpy.random.rand(), "
                               "random.random())"], tmp_path, {}, False, None, False, False, None)
        draws.add(forked.communicate(timeout=60)[0])
    assert len(draws) == 2


@pytest.mark.skipif(not sandboxed() or not landlock.available(), reason="needs root, Landlock and a usable sandbox")
def test_a_forked_process_is_behind_every_wall(server, tmp_path):
    uid = users.UID_BASE + 2 * users.UID_SLOTS + 1  # a spare id, for this test only
    base = Path(tempfile.mkdtemp())  # beside, not under, pytest's root-only folder: only Landlock keeps it out
    base.chmod(0o755)
    rules = landlock.ruleset([*landlock.SYSTEM, sys.prefix, sys.base_prefix], [str(base / "work")])
    try:
        forked, found, _ = look(server, base, walls=True, uid=uid, cut_network=users.can_cut_network(),
                                seccomp=users.can_refuse_sockets(), rules=rules)
    finally:
        os.close(rules)
        users.clean_up(uid)
        shutil.rmtree(base)
    assert forked.returncode == 0 and found["uid"] == uid
    assert found["outside"] == "refused"  # Landlock: a file beside its folder, readable by its user otherwise
    if users.can_refuse_sockets():
        assert found["sockets"] == []
    assert found["fds"] == [0, 1, 2, 3]


def test_killing_what_a_process_left_spares_the_server_and_a_dead_server_is_replaced(server, tmp_path):
    forked = server.spawn([sys.executable, "-I", "-c", "import os, time\nif os.fork() == 0: time.sleep(600)\n"
                           "time.sleep(600)"], tmp_path, {}, False, None, False, False, None)
    watching.kill_tree(forked, spare={forkserver.pid()})
    forked.wait(timeout=30)  # killed and reaped (kill_tree reaps it: its status is lost, as a Popen's would be)
    assert server.alive() and not watching.psutil.pid_exists(forked.pid)
    assert not [p for p in watching.psutil.Process().children(recursive=True) if not watching.spared(p, {server.process.pid})]
    server.process.kill()
    server.process.wait()
    assert server.spawn([sys.executable, "-I", "-c", "pass"], tmp_path, {}, False, None, False, False, None) is None
    replaced = forkserver.server()
    assert replaced is not server and replaced.alive()
    assert replaced.spawn([sys.executable, "-I", "-c", "pass"], tmp_path, {}, False, None, False, False, None).wait(60) == 0


def test_the_servers_socket_is_not_inherited():
    running = forkserver.server()
    assert not os.get_inheritable(running.socket.fileno()) and running.socket.type == socket.SOCK_SEQPACKET


def test_the_judge_classifier_runs_on_the_server_as_it_runs_afresh(server, monkeypatch):
    """The judge's own classifier process is forked too (no 3 s import per call), and reads
    images exactly as a fresh process does."""
    from autograder.judging import judge_classifier

    images = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    with monkeypatch.context() as fresh_only:
        fresh_only.setattr(forkserver, "run_trusted", lambda *args: None)
        fresh = judge_classifier.classify(images)
    assert forkserver.server() is not None

    def no_fresh_process(*args, **kwargs):
        raise AssertionError("started a fresh process")

    monkeypatch.setattr(judge_classifier.subprocess, "run", no_fresh_process)
    assert np.array_equal(judge_classifier.classify(images), fresh)
