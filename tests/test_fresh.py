"""The README's quick start on a minimal Debian, as a new user gets it: a minbase chroot made with debootstrap
(plus python3, python3-venv, git, ca-certificates), a ``git clone`` of HEAD in it, and ``bash dev/example.sh`` run
there as root with a host name that does not resolve.

Costly (on 2 cores at load 5: 130 s with no cache, debootstrap included; 70 s with one), so it runs where it is cheap
or asked for: the minbase tree is cached under ``~/.cache/nbrunner-fresh/<suite>-<arch>/`` (with apt's and pip's
downloads, about 0.8 GB); a run with no cache skips unless ``NBRUNNER_FRESH=1`` asks it to build one, and
``NBRUNNER_FRESH=0`` skips it even with one. ``NBRUNNER_FRESH_SUITES`` lists the Debian suites to try (CI: bookworm
and trixie; default: this machine's own, else bookworm). Root only (debootstrap, chroot, namespaces).

``NBRUNNER_FRESH_COMMANDS`` lists the README's commands to run there: ``example`` (the default, and CI's), and
``test``, the whole test command (``bash dev/test.sh``, its own fresh test off): 20-40 minutes a suite on 2 cores,
so it is asked for, not run by CI (whose budget is the suite's 15 minutes).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.fresh

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("python3", "python3-venv", "git", "ca-certificates")
MIRROR = "http://deb.debian.org/debian"
HOST_NAME = "nbrunner-unresolvable-fresh"
#: pip's configuration files: copied into the chroot (with the folders and the CA bundle they name) so pip there
#: reaches the same index as here
PIP_FILES = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "~/.config/pip/pip.conf", "~/.pip/pip.conf")


def own_suite() -> str:
    """This machine's Debian suite, else bookworm."""
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return "bookworm"
    if fields.get("ID") == "debian" and fields.get("VERSION_CODENAME"):
        return fields["VERSION_CODENAME"].strip('"')
    return "bookworm"


def suites() -> list[str]:
    """The suites to try: ``NBRUNNER_FRESH_SUITES`` (space-separated; CI: bookworm and trixie), else
    ``NBRUNNER_FRESH_SUITE``, else this machine's own."""
    given = os.environ.get("NBRUNNER_FRESH_SUITES", "").split() or os.environ.get("NBRUNNER_FRESH_SUITE", "").split()
    return given or [own_suite()]


#: each README command the fresh test can run: the shell line run in the clone, and its time limit in seconds
COMMANDS = {
    "example": ("bash dev/example.sh -p rows=1000", 1800),
    "test": ("NBRUNNER_FRESH=0 bash dev/test.sh -p no:cacheprovider", 5400),
}


def commands() -> list[str]:
    """The README commands to run: ``NBRUNNER_FRESH_COMMANDS`` (space-separated: example, test), else the example."""
    given = os.environ.get("NBRUNNER_FRESH_COMMANDS", "").split() or ["example"]
    unknown = [name for name in given if name not in COMMANDS]
    if unknown:
        raise pytest.UsageError(f"NBRUNNER_FRESH_COMMANDS: {' '.join(unknown)}? give example and/or test")
    return given


def cache_dir(suite: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return Path(base) / "nbrunner-fresh" / f"{suite}-{arch}"


def needs() -> str | None:
    """Why the fresh test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, a UTS namespace)"
    for tool in ("debootstrap", "unshare", "chroot", "git"):
        if not shutil.which(tool):
            return f"needs {tool} (bash dev/setup.sh --test installs debootstrap)"
    probe = subprocess.run(["unshare", "--mount", "--uts", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare --mount --uts is not permitted here: {probe.stderr.strip()}"
    return None


def build_base(target: Path, suite: str) -> None:
    """debootstrap --variant=minbase, then the README's few packages; built beside the cache and moved in whole."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(partial), MIRROR],
        check=True, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    shutil.rmtree(partial / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (partial / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True)
    partial.rename(target)


def pip_config(root: Path) -> list[Path]:
    """Copy pip's configuration files into ``root``; return the local folders and files they name (bind-mounted
    read-only: a file:// index, find-links, a constraints file, the CA bundle)."""
    named: list[Path] = []
    words: list[str] = []
    for name in PIP_FILES:
        source = Path(name).expanduser()
        if not source.is_file():
            continue
        target = root / str(source).lstrip("/")
        if str(source).startswith(str(Path.home())):
            target = root / "root" / source.relative_to(Path.home())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        words += source.read_text().replace("=", " ").split()
    words += [w for v in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL")
              for w in os.environ.get(v, "").split()]  # fmt: skip
    for word in words:
        path = Path(word.removeprefix("file://"))
        if path.name == "simple":  # a file:// index: its pages link to files beside it
            path = path.parent
        if path.is_absolute() and path.exists() and path not in named:
            named.append(path)
    return named


@pytest.fixture(params=suites())
def base(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The cached minbase tree of one suite (built when ``NBRUNNER_FRESH=1`` asks)."""
    why = needs()
    if why:
        pytest.skip(why)
    cache = cache_dir(request.param)
    tree = cache / "rootfs"
    if os.environ.get("NBRUNNER_FRESH") == "0":
        pytest.skip("NBRUNNER_FRESH=0")
    if not tree.is_dir():
        if os.environ.get("NBRUNNER_FRESH") != "1":
            pytest.skip(f"no cached minbase chroot at {tree}: NBRUNNER_FRESH=1 builds one (debootstrap: 1-2 min)")
        cache.mkdir(parents=True, exist_ok=True)
        build_base(tree, request.param)
    yield tree


@pytest.mark.parametrize("command", commands())
def test_the_readmes_commands_run_on_a_fresh_minimal_debian(base: Path, command: str, tmp_path: Path) -> None:
    cache = base.parent
    root = tmp_path / "root"
    started = time.monotonic()
    subprocess.run(["cp", "-a", str(base), str(root)], check=True)
    copied = time.monotonic()
    # the network as here: DNS, and the CA bundle (a proxy's CA may be in it) for pip and git
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")  # no entry for the host name
    binds = [p for p in pip_config(root) if not str(p).startswith(str(ROOT))]
    bundle = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file() and bundle not in binds:
        binds.append(bundle)
    clone = root / "root" / "nbrunner"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    (cache / "apt").mkdir(exist_ok=True)
    (cache / "apt" / "partial").mkdir(exist_ok=True)
    (cache / "pip").mkdir(exist_ok=True)
    mounts = [f"mount -t proc proc {root}/proc", f"mount --rbind /dev {root}/dev", f"mount --rbind /sys {root}/sys",
              f"mount --bind {cache / 'apt'} {root}/var/cache/apt/archives",
              f"mkdir -p {root}/root/.cache/pip && mount --bind {cache / 'pip'} {root}/root/.cache/pip"]  # fmt: skip
    for path in binds:
        inside = root / str(path).lstrip("/")
        if path.is_dir():
            inside.mkdir(parents=True, exist_ok=True)
        else:
            inside.parent.mkdir(parents=True, exist_ok=True)
            inside.touch()
        mounts.append(f"mount --bind -o ro {path} {inside}")
    line, limit = COMMANDS[command]
    inner = f'trap "" INT HUP; cd /root/nbrunner && {line}'  # as a CI runner starts it
    script = " && ".join(mounts) + f" && hostname {HOST_NAME} && exec chroot {root} /bin/sh -c '{inner}'"
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.endswith("_PROXY") or
                k.endswith("_proxy")})  # fmt: skip
    try:
        done = subprocess.run(["unshare", "--mount", "--uts", "--fork", "sh", "-c", script], capture_output=True,
                              text=True, env=env, timeout=limit, stdin=subprocess.DEVNULL)  # fmt: skip
        took = time.monotonic() - copied
        (cache / f"last-{command}.log").write_text(done.stdout + done.stderr)  # kept for a look afterwards
        print(f"fresh {cache.name}: copy {copied - started:.0f} s, {line} {took:.0f} s")
        assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
        if command == "test":
            summary = [text for text in done.stdout.splitlines() if " passed" in text and " in " in text]
            print(f"fresh {cache.name}: {summary[-1] if summary else 'no pytest summary'}")
            assert summary and "failed" not in summary[-1] and "error" not in summary[-1], done.stdout[-5000:]
            return
        runs = list((clone / "runs").glob("daily_report-*.ipynb"))
        assert runs, done.stderr[-3000:]
        assert "[nbrunner] cell" in done.stderr + done.stdout
        assert "does not resolve" in done.stderr + done.stdout  # the host-name rule's warning
    finally:  # about 1.5 GB (the virtualenv); the mounts went with the namespace
        shutil.rmtree(root, ignore_errors=True)
