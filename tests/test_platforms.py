"""Where students and graders are: the pinned requirements resolve to wheels on every
platform and supported Python (asked of the package registry, nothing installed); an
unsupported interpreter gets one paragraph and exit status 2 before anything is installed;
Gradescope's setup picks (or installs) a supported interpreter, or fails in one line."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import ROOT

sys.path.insert(0, str(ROOT / "install"))
import check_python  # noqa: E402

PYTHONS = ["%d.%d" % version for version in check_python.SUPPORTED]
PLATFORMS = {  # name: (environment markers, wheel platform tags pip may accept)
    "Linux x86_64": ({"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux"},
                     ["manylinux_2_27_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"]),
    "macOS arm64": ({"sys_platform": "darwin", "platform_machine": "arm64", "platform_system": "Darwin"},
                    ["macosx_12_0_arm64", "macosx_13_0_arm64", "macosx_14_0_arm64", "macosx_11_0_arm64"]),
    "Windows amd64": ({"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows"},
                      ["win_amd64"]),
    "Linux aarch64": ({"sys_platform": "linux", "platform_machine": "aarch64", "platform_system": "Linux"},
                      ["manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64"]),
}


def requirements_for(markers, python):
    """The requirement lines that apply to a platform and Python, without their markers."""
    environment = {**markers, "python_version": python, "python_full_version": python + ".0",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython", "os_name":
                   "nt" if markers["sys_platform"] == "win32" else "posix"}
    chosen = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                chosen.append(f"{requirement.name}{requirement.specifier}")
    return chosen


@pytest.mark.slow
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_pinned_package_has_a_wheel(platform, python, tmp_path):
    markers, tags = PLATFORMS[platform]
    wanted = requirements_for(markers, python)
    assert sum(name.startswith(("tensorflow==", "tensorflow-cpu==")) for name in wanted) == 1, wanted
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
               "--only-binary=:all:", "--python-version", python, "--target", str(tmp_path / "t"),
               "--report", str(report), "--quiet", "--disable-pip-version-check"]
    command += [flag for tag in tags for flag in ("--platform", tag)] + wanted
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode and any(s in done.stderr for s in ("Could not fetch URL", "ConnectionError",
                                                          "Temporary failure in name resolution", "Network is unreachable")):
        pytest.skip(f"the package registry is unreachable: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = {item["metadata"]["name"].lower(): item["download_info"]["url"].rsplit("/", 1)[-1]
              for item in json.loads(report.read_text())["install"]}
    assert len(wheels) == len(wanted) and all(w.endswith(".whl") for w in wheels.values()), wheels
    print(platform, python, [w for n, w in wheels.items() if n.startswith("tensorflow")][0])


@pytest.mark.parametrize("version, system, machine, says", [
    ((3, 10, 12), "Linux", "x86_64", "This is Python 3.10, but the homework needs Python 3.11, 3.12, 3.13"),
    ((3, 14, 0), "Linux", "x86_64", "`make PYTHON=python3.12 ...`"),
    ((3, 12, 1), "Darwin", "x86_64", "no packages for Intel Macs"),
    ((3, 12, 1), "Windows", "ARM64", "no packages for Windows on ARM"),
])
def test_unsupported_interpreters_and_platforms_are_explained(version, system, machine, says):
    assert says in check_python.problem(version, system, machine)
    assert "Colab" in check_python.problem(version, system, machine)


@pytest.mark.parametrize("version, system, machine", [((3, 11, 9), "Linux", "x86_64"), ((3, 13, 0), "Darwin", "arm64"),
                                                      ((3, 12, 0), "Windows", "AMD64"), ((3, 12, 3), "Linux", "aarch64")])
def test_supported_interpreters_pass(version, system, machine):
    assert check_python.problem(version, system, machine) is None


def stand_in(folder, name, version):
    """An executable `name` in `folder` that answers install/check_python.py like Python `version`."""
    ok = tuple(int(p) for p in version.split(".")) in check_python.SUPPORTED
    script = folder / name
    script.write_text("#!/bin/sh\n" + ("exit 0\n" if ok else f"echo 'This is Python {version}, but ...' >&2\nexit 2\n"))
    script.chmod(0o755)
    return script


def test_make_refuses_an_unsupported_python_with_one_paragraph(tmp_path):
    copy = tmp_path / "handout"
    copy.mkdir()
    shutil.copy(ROOT / "Makefile", copy)
    shutil.copy(ROOT / "requirements.txt", copy)
    shutil.copytree(ROOT / "install", copy / "install")
    python = tmp_path / "python3.10"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} - \"$@\" <<'EOF'\nimport runpy, sys\n"
                      "sys.version_info = (3, 10, 12, 'final', 0)\nsys.argv = sys.argv[1:]\n"
                      "runpy.run_path(sys.argv[0], run_name='__main__')\nEOF\n")
    python.chmod(0o755)
    done = subprocess.run(["make", f"PYTHON={python}", "venv"], cwd=copy, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "This is Python 3.10, but the homework needs Python 3.11, 3.12, 3.13" in done.stderr
    assert not (copy / ".venv").exists() and "Traceback" not in done.stderr


def choose(tmp_path, pythons, apt_installs=None):
    """Run install/choose_python.sh with only the stand-ins on PATH. Returns (exit, stdout,
    stderr, what apt-get was asked)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, version in pythons.items():
        stand_in(bin_dir, name, version)
    log = tmp_path / "apt.log"
    install = "" if apt_installs is None else textwrap.dedent(f"""
        case "$*" in *install*) cat > {bin_dir}/python3.11 <<'EOF'
        #!/bin/sh
        exit 0
        EOF
        chmod 755 {bin_dir}/python3.11 ;; esac""")
    apt = bin_dir / "apt-get"
    apt.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\n{install}\n" + ("exit 0\n" if apt_installs is not None else
                                                                       "echo 'E: Unable to locate package' >&2\nexit 100\n"))
    apt.chmod(0o755)
    for tool in ("sh", "cat", "chmod"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = subprocess.run(["/bin/bash", str(ROOT / "install" / "choose_python.sh")], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": str(bin_dir)}, timeout=60)
    asked = log.read_text() if log.exists() else ""
    return done.returncode, done.stdout.strip(), done.stderr.strip(), asked


def test_setup_keeps_a_supported_system_python(tmp_path):
    code, chosen, _, asked = choose(tmp_path, {"python3": "3.12"})
    assert code == 0 and chosen.endswith("/bin/python3") and asked == ""


def test_setup_installs_python_3_11_beside_ubuntu_22_04s_3_10(tmp_path):
    code, chosen, _, asked = choose(tmp_path, {"python3": "3.10"}, apt_installs=True)
    assert code == 0 and chosen.endswith("/bin/python3.11"), chosen
    assert "install -y -qq python3.11 python3.11-venv" in asked


@pytest.mark.skipif(os.geteuid() != 0, reason="only root must skip a Python other users cannot run")
def test_as_root_a_python_other_users_cannot_run_is_passed_over():
    """A pyenv under /root first on PATH (as on this machine): setup.sh and make as root take
    the next supported Python, so that student code can run as an unprivileged user."""
    tmp_path = Path(tempfile.mkdtemp(prefix="pythons-", dir="/tmp"))
    private, public = tmp_path / "root-only", tmp_path / "shared"
    for folder, mode in ((private, 0o700), (public, 0o755)):
        folder.mkdir(mode=mode)
        os.chmod(folder, mode)
        os.symlink(sys.executable, folder / "python3")
    os.chmod(tmp_path, 0o755)
    done = subprocess.run(["/bin/bash", str(ROOT / "install" / "choose_python.sh"), "--no-install"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": f"{private}:{public}"}, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(public / "python3"), done.stdout + done.stderr
    refused = subprocess.run([str(private / "python3"), "install/check_python.py", "--shared"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    shutil.rmtree(tmp_path)
    assert refused.returncode == 2 and "can only be used by root" in refused.stderr


def test_setup_fails_loudly_when_no_supported_python_can_be_had(tmp_path):
    code, chosen, said, asked = choose(tmp_path, {"python3": "3.10"})
    assert code == 1 and chosen == "" and "install" in asked
    assert said.count("\n") == 0 and f"No supported Python ({check_python.VERSIONS})" in said


def test_the_judge_runs_where_posix_only_modules_are_missing(tmp_path):
    """Windows has no fcntl, pwd or resource and no geteuid, killpg, fork or O_NOFOLLOW: the
    judge's own code must not need them there (it cannot be run on Windows here, so this
    takes them away and grades an upload with nothing in it)."""
    code = f"""
import os, sys
import numpy, psutil  # their own Linux backends need these modules; on Windows they use others
for name in ("fcntl", "pwd", "resource", "grp"):
    sys.modules[name] = None
for name in ("geteuid", "killpg", "fork", "setresuid", "O_NOFOLLOW", "O_NONBLOCK"):
    if hasattr(os, name):
        delattr(os, name)
sys.path.insert(0, ".")
from autograder.isolation import child, reading, users
from autograder import grade
assert not users.is_root() and users.Slot().ids == ()
child.set_limits(1000)
open({str(tmp_path / 'r.txt')!r}, "w").write("data")
assert reading.safe_read({str(tmp_path / 'r.txt')!r}, 100) == b"data"
os.mkdir({str(tmp_path / 'empty')!r})
results = grade.grade({str(tmp_path / 'empty')!r}, {str(tmp_path / 'results.json')!r}, log=lambda *a, **k: None)
assert results["score"] == 0 and "no vae.py was found" in results["tests"][0]["output"]
print("portable")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "portable", done.stderr[-2000:]


@pytest.mark.slow
def test_the_handout_works_as_the_colab_notebook_runs_it(request):
    """Unpack the handout, then run the notebook's shell commands in order (the installation
    reuses this project's virtualenv): the data step works, training the stencil stops at its
    first TODO with its name, and grading gives 0 with a table."""
    handout = Path(tempfile.mkdtemp(prefix="handout-"))  # like /content: other users may enter
    os.chmod(handout, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(handout, ignore_errors=True))
    subprocess.run([sys.executable, "tools/package.py", "handout", "--out", str(handout / "dist")], cwd=ROOT,
                   check=True, capture_output=True)
    shutil.unpack_archive(handout / "dist" / "handout.zip", handout)
    (handout / ".venv").symlink_to(ROOT / ".venv")
    stamp = handout / ".venv" / ".installed"
    stamp.exists() or pytest.skip("the project's virtualenv is not built by make")
    os.utime(handout / "requirements.txt", (stamp.stat().st_mtime - 1,) * 2)  # installed: nothing to do
    notebook = json.loads((handout / "colab.ipynb").read_text())
    commands = [line[1:].strip() for cell in notebook["cells"] if cell["cell_type"] == "code"
                for line in cell["source"] if line.startswith("!") and "unzip" not in line]
    assert commands[:3] == ["make venv", "make data", 'make train ARGS="--num_epochs 5"'], commands
    env = {**os.environ, "MNIST_MIRROR": str(ROOT / "data"), "PYTHON": sys.executable}
    said = {}
    for command in commands:
        done = subprocess.run(command, shell=True, cwd=handout, capture_output=True, text=True, env=env, timeout=900)
        said[command] = (done.returncode, done.stdout + done.stderr)
    assert said["make venv"][0] == 0 and said["make data"][0] == 0, said
    code, output = said['make train ARGS="--num_epochs 5"']
    assert code != 0 and "NotImplementedError: VAE.__init__" in output
    code, output = said["make grade"]
    assert code == 0 and "TOTAL 0 / 100" in output, output[-3000:]
