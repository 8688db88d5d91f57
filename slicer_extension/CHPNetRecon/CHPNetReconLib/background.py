"""Run :mod:`.worker` in a separate Python process: start, poll without blocking, cancel, read the outputs back.

The same pattern as SlicerMONAIAuto3DSeg: ``subprocess.Popen`` with piped output, a reader thread that queues the
lines, and a non-blocking :meth:`BackgroundReconstruction.poll` that the module widget calls from a ``QTimer``
(headless callers use :meth:`~BackgroundReconstruction.wait`). No Qt here.

Cancel terminates the whole process group (POSIX) or process tree (Windows): inside Slicer the executable is the
``PythonSlicer`` launcher, whose child does the work.
"""

from __future__ import annotations

import enum
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

from . import worker
from .errors import ReconstructionCancelledError, ReconstructionFailedError
from .reconstruction import ReconstructionArrays, ReconstructionRequest
from .volumes import read_volume_file

__all__ = ["JobState", "JobStatus", "BackgroundReconstruction", "LIB_PARENT"]

PathLike = Union[str, "os.PathLike[str]"]

#: The folder holding ``CHPNetReconLib`` (put on the worker's ``PYTHONPATH``).
LIB_PARENT = Path(__file__).resolve().parents[1]
_EOF = object()


class JobState(enum.Enum):
    """Life cycle of a background reconstruction."""

    NOT_STARTED = "not started"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class JobStatus:
    """What :meth:`BackgroundReconstruction.poll` saw.

    Attributes:
        state: see :class:`JobState`.
        done, total: slices reconstructed so far / in all (``total`` is 0 until the first batch ends).
        log: output lines received since the previous poll (progress lines excluded).
    """

    state: JobState
    done: int = 0
    total: int = 0
    log: List[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

    @property
    def percent(self) -> int:
        return int(round(100.0 * self.done / self.total)) if self.total else 0


class BackgroundReconstruction:
    """One worker process reconstructing one volume file.

    Args:
        input_file: the input volume (NRRD with the node's geometry).
        output_dir: where the worker writes its outputs (created if needed).
        request: the reconstruction parameters.
        reference_file: optional reference volume on the input's grid.
        fastmri_file: the fastMRI ``.h5`` the input was loaded from, if any.
        python_executable: the Python that has ``monai_chpnet`` (``PythonSlicer`` in Slicer; default: this one).
        python_paths: extra ``PYTHONPATH`` entries (e.g. a monai-chpnet source checkout).
        env: base environment (default: this process's).
    """

    def __init__(
        self,
        input_file: PathLike,
        output_dir: PathLike,
        request: ReconstructionRequest,
        reference_file: Optional[PathLike] = None,
        fastmri_file: Optional[PathLike] = None,
        python_executable: Optional[str] = None,
        python_paths: Sequence[PathLike] = (),
        env: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.input_file, self.output_dir = Path(input_file), Path(output_dir)
        self.request = request.validated()
        self.reference_file = Path(reference_file) if reference_file else None
        self.fastmri_file = Path(fastmri_file) if fastmri_file else None
        self.python_executable = python_executable or sys.executable
        self.python_paths = [os.fspath(p) for p in python_paths]
        self.base_env = dict(os.environ if env is None else env)
        self.log: List[str] = []
        self.error_message = ""
        self._process: Optional[subprocess.Popen] = None
        self._lines: "queue.Queue[object]" = queue.Queue()
        self._reader: Optional[threading.Thread] = None
        self._eof = False
        self._cancelled = False
        self._done = self._total = 0
        self._state = JobState.NOT_STARTED

    # -- process -------------------------------------------------------------------------------------------------

    def command(self) -> List[str]:
        """The worker's command line."""
        cmd = [
            self.python_executable,
            "-m",
            "CHPNetReconLib.worker",
            "--input",
            os.fspath(self.input_file),
            "--output-dir",
            os.fspath(self.output_dir),
            "--request",
            json.dumps(self.request.as_dict()),
        ]
        if self.reference_file is not None:
            cmd += ["--reference", os.fspath(self.reference_file)]
        if self.fastmri_file is not None:
            cmd += ["--fastmri", os.fspath(self.fastmri_file)]
        return cmd

    def environment(self) -> Dict[str, str]:
        """The worker's environment: ``PYTHONPATH`` = this library's parent, ``python_paths``, then the inherited."""
        env = dict(self.base_env)
        inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([os.fspath(LIB_PARENT), *self.python_paths, *inherited])
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> None:
        """Launch the worker and the thread that reads its output.

        Raises:
            RuntimeError: already started.
            ReconstructionFailedError: the executable could not be launched.
        """
        if self._state is not JobState.NOT_STARTED:
            raise RuntimeError("this background reconstruction was already started.")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        popen_kwargs: Dict[str, object] = {}
        if os.name == "nt":
            popen_kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined]
        else:
            popen_kwargs["start_new_session"] = True
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own worker, argument list (no shell)
                self.command(),
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                **popen_kwargs,
            )
        except OSError as err:
            raise ReconstructionFailedError(f"cannot start {self.python_executable}: {err}") from None
        self._state = JobState.RUNNING
        self._reader = threading.Thread(target=self._read_output, name="CHPNetRecon-worker-output", daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\r\n"))
        self._lines.put(_EOF)

    # -- polling -------------------------------------------------------------------------------------------------

    def poll(self) -> JobStatus:
        """Take the output received so far; never blocks. The state leaves RUNNING once the process has exited
        and all its output is read."""
        new_lines: List[str] = []
        while True:
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
            if item is _EOF:
                self._eof = True
                continue
            self._handle_line(str(item), new_lines)
        if (
            self._state is JobState.RUNNING
            and self._eof
            and self._process is not None
            and self._process.poll() is not None
        ):
            self._state = self._final_state(self._process.returncode)
        return JobStatus(self._state, self._done, self._total, new_lines)

    def _handle_line(self, line: str, new_lines: List[str]) -> None:
        if line.startswith(worker.PROGRESS_TAG):
            done, _, total = line[len(worker.PROGRESS_TAG) :].strip().partition("/")
            if done.isdigit() and total.isdigit():
                self._done, self._total = int(done), int(total)
                return
        if line.startswith(worker.ERROR_TAG):
            self.error_message = line[len(worker.ERROR_TAG) :].strip()
        self.log.append(line)
        new_lines.append(line)

    def _final_state(self, returncode: int) -> JobState:
        if self._cancelled:
            return JobState.CANCELLED
        if returncode == 0:
            return JobState.SUCCEEDED
        if not self.error_message:
            tail = " | ".join(line for line in self.log[-6:] if line.strip())
            self.error_message = f"exit status {returncode}" + (f": {tail}" if tail else "")
        return JobState.FAILED

    def wait(self, timeout: Optional[float] = None, interval: float = 0.05) -> JobStatus:
        """Poll until the job has finished (headless use).

        Raises:
            TimeoutError: still running after ``timeout`` seconds (the process keeps running; cancel it).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        status = self.poll()
        while not status.finished:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"background reconstruction still running after {timeout} s.")
            time.sleep(interval)
            status = self.poll()
        return status

    # -- cancel ------------------------------------------------------------------------------------------------

    def cancel(self, grace_seconds: float = 5.0) -> None:
        """Terminate the worker and its children (SIGTERM, then SIGKILL after ``grace_seconds``)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._cancelled = True
        if os.name == "nt":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False)
        else:
            _signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
            process.wait()

    # -- outputs -------------------------------------------------------------------------------------------------

    def outputs(self) -> ReconstructionArrays:
        """The worker's result, read back from ``output_dir``: arrays ``(K, J, I)`` in the input file's voxel order.

        Raises:
            ReconstructionCancelledError: the job was cancelled.
            ReconstructionFailedError: it failed, is still running, or left incomplete outputs.
        """
        state = self.poll().state
        if state is JobState.CANCELLED:
            raise ReconstructionCancelledError("the reconstruction was cancelled.")
        if state is not JobState.SUCCEEDED:
            detail = self.error_message or state.value
            raise ReconstructionFailedError(f"background reconstruction did not succeed ({detail}).")
        reconstruction, ijk_to_ras = read_volume_file(self.output_dir / worker.RECONSTRUCTION_FILE)
        zero_filled, _ = read_volume_file(self.output_dir / worker.ZERO_FILLED_FILE)
        try:
            report = json.loads((self.output_dir / worker.METRICS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ReconstructionFailedError(f"cannot read {worker.METRICS_FILE}: {err}") from None
        trust_file = self.output_dir / worker.TRUST_FILE
        return ReconstructionArrays(
            reconstruction=reconstruction,
            zero_filled=zero_filled,
            metrics=report.get("metrics", {}),
            acceleration=float(report.get("acceleration", 1.0)),
            seconds=float(report.get("seconds", 0.0)),
            ijk_to_ras=ijk_to_ras,
            trust=read_volume_file(trust_file)[0] if trust_file.is_file() else None,
            trust_method=report.get("trust_method") or "",
            trust_error=report.get("trust_error"),
        )


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group the worker leads (it was started in a new session)."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
