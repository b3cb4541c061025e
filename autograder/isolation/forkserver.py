"""Start student and measuring processes from one that has already imported TensorFlow.

A fresh Python spends about 3 CPU-seconds importing TensorFlow (numpy, Keras, matplotlib and its
font cache), and a grading starts 2-10 processes. So the judge starts, once, a server of its own
(`python -I forkserver.py GRADER FD`, a neutral environment, nothing of the judge's state): it
imports TensorFlow and then, for each request on its socket, forks twice. The grandchild is
orphaned at once and adopted by the judge (its subreaper, users.become_subreaper), which watches,
kills and reaps it as it would a child it started itself. Before it runs anything the grandchild
does what subprocess.Popen did: a session of its own, stdin /dev/null, stdout and stderr the
judge's pipe, the request's folder and environment; then the same walls (users.as_user: network
namespace, user id, Landlock, seccomp); then it closes every other descriptor, forgets the grader
modules it raised the walls with (so child.py imports the grading's private copy behind them) and
runs the command as `python -I` would have.

Judge side: server().spawn() returns a Forked (the part of subprocess.Popen the sandbox uses) or
None whenever the server cannot be used, and the caller starts the process itself.
"""
import atexit
import gc
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

READY_SECONDS = 300  # importing TensorFlow on a busy machine
MESSAGE_BYTES = 1 << 20


class Forked:
    """A process the server forked for the judge, which is its parent by adoption: what the
    sandbox uses of subprocess.Popen (pid, stdout, poll, wait, kill, communicate, returncode)."""

    def __init__(self, pid, stdout):
        self.pid, self.stdout, self.returncode = pid, stdout, None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (users.reap): its status is lost, as Popen's would be
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.01)
        return self.returncode

    def kill(self):
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def communicate(self, timeout=None):
        """All of its output (to the end of the pipe), then its exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = []
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            if select.select([self.stdout], [], [], left)[0]:
                chunk = self.stdout.read1(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        self.stdout.close()
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return b"".join(chunks), None


class Server:
    """The judge's handle on its server process."""

    def __init__(self):
        self.lock, self.ready = threading.Lock(), False
        self.home = tempfile.mkdtemp(prefix="vae-forkserver-")
        self.socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        grader = str(Path(__file__).resolve().parents[2])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.home, "TMPDIR": self.home, "LANG": "C.UTF-8",
               "MPLBACKEND": "Agg", "MPLCONFIGDIR": self.home, "KERAS_HOME": self.home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve()), grader, str(theirs.fileno())],
                pass_fds=[theirs.fileno()], env=env, cwd=self.home, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:
            self.socket.close()
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        finally:
            theirs.close()

    def alive(self):
        return self.process.poll() is None

    def spawn(self, command, cwd, env, walls, uid, cut_network, seccomp, rules):
        """Fork `command` ([python, -I, script or -c code, args...]) in `cwd` with `env`, behind
        the walls if `walls` (users.as_user's arguments; `rules` a Landlock ruleset fd or None). Returns a
        Forked whose stdout is its output (stderr joined), or None if the server failed."""
        if command[1:2] != ["-I"] or command[0] != sys.executable:
            return None
        read, write = os.pipe()
        fds = [write] + ([rules] if rules is not None else [])
        request = {"argv": command[2:], "cwd": str(cwd), "env": env, "walls": walls, "uid": uid,
                   "cut_network": cut_network, "seccomp": seccomp}
        try:
            with self.lock:
                if not self.ready:
                    self.ready = self.receive(READY_SECONDS) == {"ready": True}
                    if not self.ready:
                        raise OSError("the fork server never became ready")
                socket.send_fds(self.socket, [json.dumps(request).encode()], fds)
                reply = self.receive(60)
            pid = int(reply["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            os.close(read)
            self.stop()
            return None
        finally:
            os.close(write)
        return Forked(pid, open(read, "rb"))

    def receive(self, seconds):
        if not select.select([self.socket], [], [], seconds)[0]:
            raise OSError("the fork server did not answer")
        message = self.socket.recv(MESSAGE_BYTES)
        if not message:
            raise OSError("the fork server ended")
        return json.loads(message)

    def stop(self):
        self.socket.close()
        if self.alive():
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


_server = None


def server():
    """The judge's running server, started if there is none (Linux only: it needs fork and a
    subreaper; the caller checks that the judge is one). None where it cannot start."""
    global _server
    if not sys.platform.startswith("linux"):
        return None
    if _server is None or not _server.alive():
        if _server is not None:
            _server.stop()
        try:
            _server = Server()
        except OSError:
            _server = None
        else:
            atexit.register(_server.stop)
    return _server


def pid():
    """The running server's pid (the judge spares it when it kills what a process left), or None."""
    return _server.process.pid if _server is not None and _server.alive() else None


def run_trusted(command, cwd, env):
    """Run the judge's own `command` ([python, -I, script, args...]; no walls, the judge's user)
    on the server a grading started, if there is one: (its output, its exit status), or None (no server)."""
    if pid() is None:
        return None
    forked = _server.spawn(command, cwd, env, False, None, False, False, None)
    return None if forked is None else (forked.communicate()[0], forked.returncode)


# The server's side: runs as `python -I forkserver.py GRADER FD`.

def serve(grader, fd):
    sock = socket.socket(fileno=fd)
    sys.path.insert(0, grader)
    from autograder.isolation.users import as_user  # the walls, from the judge's own copy
    del sys.path[0]
    import numpy  # noqa: F401 - what every process imports, loaded once here
    import tensorflow  # noqa: F401

    gc.freeze()  # the collector of a forked process leaves these objects (and their shared pages) alone
    sock.send(json.dumps({"ready": True}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(sock, MESSAGE_BYTES, 2)
        if not message:
            os._exit(0)  # the judge is gone
        try:
            reply = {"pid": fork_twice(json.loads(message), fds, sock, as_user)}
        except (OSError, ValueError) as error:
            reply = {"error": str(error)}
        finally:
            for received in fds:
                os.close(received)
        sock.send(json.dumps(reply).encode())


def fork_twice(request, fds, sock, as_user):
    """Fork a process for `request` whose parent exits at once, so the judge adopts it; its pid."""
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(read)
            pid = os.fork()
            if pid == 0:
                os.close(write)
                become(request, fds, sock, as_user)
            os.write(write, str(pid).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        answer = os.read(read, 32)
    finally:
        os.close(read)
    os.waitpid(middle, 0)  # from here the grandchild is the judge's
    return int(answer)


def become(request, fds, sock, as_user):
    """In the grandchild: become the process `request` asks for and run it; never returns."""
    status = 1
    try:
        sock.close()
        os.setsid()
        output, rules = fds[0], (fds[1] if len(fds) > 1 else None)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request["walls"]:
            as_user(request["uid"], request["cut_network"], request["seccomp"], rules)()
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the ruleset, the server's socket, anything inherited
        forget()
        status = run(request["argv"])
    except SystemExit as ended:
        status = exit_status(ended)
    except BaseException:  # noqa: BLE001 - as Python would: the traceback, then exit 1
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - a closed or broken stream
                pass
        os._exit(status)


def forget():
    """Drop what a fresh process would not have: the grader modules that raised the walls (the
    process imports its private copy), the server's temporary folder and its numpy random state."""
    import numpy

    for name in [name for name in sys.modules if name == "autograder" or name.startswith("autograder.")]:
        del sys.modules[name]
    tempfile.tempdir = None
    numpy.random.seed()


def run(argv):
    """Run ['-c', code, args...] or [script, args...] as __main__; its exit status."""
    import runpy

    try:
        if argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as ended:
        return exit_status(ended)
    return 0


def exit_status(ended):
    if ended.code is None or isinstance(ended.code, int):
        return ended.code or 0
    print(ended.code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
