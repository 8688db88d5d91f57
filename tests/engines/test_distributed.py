import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_process_gloo_torchrun_keeps_ranks_identical(tmp_path):
    script = Path(__file__).with_name("ddp_run.py")
    with socket.socket() as sock:  # a free port: torchrun's static rendezvous does not accept port 0
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        str(script),
        str(tmp_path),
    ]
    # own process group: on a hang, the launcher *and* both workers are killed (no stray processes)
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        log, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in 240 s:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    digests = [(tmp_path / f"rank{r}.txt").read_text().split() for r in (0, 1)]
    assert digests[0][1] == digests[1][1] == "4"  # 8 samples / 2 ranks / batch 2 = 2 iterations x 2 epochs
    assert digests[0][0] == digests[1][0], "ranks diverged: student, teacher and projectors must stay identical"
    assert [(tmp_path / f"rank{r}_beta0.txt").read_text() for r in (0, 1)] == ["4", "4"]  # beta = 0 runs too
