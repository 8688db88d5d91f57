"""A real ``python -m monailabel.main start_server`` for a test module: on a free 127.0.0.1 port, in its own process
group, with HOME, the working directory and the temporary folder (``TMPDIR``) in a folder of the test's; stopped
with its whole group afterwards (and checked gone)."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Sequence

import pytest
import requests

START_TIMEOUT_S = 120.0  # torch + MONAI + MONAI Label imports on a loaded 2-core machine
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen) -> None:
    pgid = proc.pid  # start_new_session: the server leads its own group
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
        pytest.fail("processes of the MONAI Label server outlived it (killed)")


@contextmanager
def monailabel_server(
    root: Path, app: Path, studies: Path, conf: Dict[str, str], python_path: Sequence[Path] = ()
) -> Iterator[str]:
    """Serve ``app`` over ``studies`` with ``--conf`` entries ``conf``; yields the base URL. The server's
    temporary folder is ``root / "tmp"`` (what it leaves there can be checked), its log ``root / "server.log"``;
    ``python_path`` is put in front of its ``PYTHONPATH``."""
    for name in ("home", "tmp"):
        (root / name).mkdir(exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONAI_LABEL_")}
    env.update(HOME=str(root / "home"), TMPDIR=str(root / "tmp"), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, python_path), *filter(None, [env.get("PYTHONPATH")])])
    extra: Sequence[str] = [item for key, value in conf.items() for item in ("--conf", key, value)]
    command = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(studies)]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"MONAI Label exited with {proc.returncode} before serving:\n{log_tail(log)}")
            try:
                if requests.get(f"{url}/info/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"MONAI Label did not serve /info/ within {START_TIMEOUT_S:.0f} s:\n{log_tail(log)}")
            time.sleep(0.25)
        yield url
    finally:
        _stop(proc)
