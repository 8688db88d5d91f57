"""Ignite handlers for reconstruction/distillation runs: atomic checkpoints and resume, the dynamic KD weight,
comparison figures, and a per-epoch hook for datasets that reshuffle (``MixedDataset.set_epoch``).

MONAI's ``CheckpointSaver`` writes with ``atomic=False``, so a run killed while saving can leave a truncated file
as its only checkpoint; :class:`AtomicCheckpointSaver` writes to a temporary file and renames it, and
:class:`ResumeFromCheckpoint` restores the newest one (networks, optimizers, schedulers, engine state, the KD
weight) after checking it was written by the same run configuration.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver
from monai.utils import CommonKeys

from monai_chpnet.atomic import atomic_path
from monai_chpnet.checkpoints import describe_state_mismatch
from monai_chpnet.keys import ReconKeys

__all__ = [
    "RunConfig",
    "AtomicCheckpointSaver",
    "ResumeFromCheckpoint",
    "latest_checkpoint",
    "DynamicKDWeightHandler",
    "ComparisonFigureSaver",
    "EpochSetter",
    "is_main_process",
    "describe_state_mismatch",
]

logger = logging.getLogger(__name__)
CHECKPOINT_PREFIX = "checkpoint"
_CKPT_RE = re.compile(rf"{CHECKPOINT_PREFIX}_checkpoint_(\d+)\.pt$")


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed): the only process that writes files."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


class RunConfig:
    """A run's configuration, saved with every checkpoint and checked on resume.

    Args:
        config: JSON-serialisable settings that must not change across a resume (architecture presets, kd mode,
            loss weights, ...). Settings that may change (``max_epochs``, logging) should be left out.
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None) -> None:
        self.config = json.loads(json.dumps(dict(config or {}), sort_keys=True, default=str))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:16]

    def state_dict(self) -> Dict[str, Any]:
        return {"config": json.dumps(self.config, sort_keys=True), "fingerprint": self.fingerprint}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = json.loads(state["config"])
        # a setting missing on one side counts as None: checkpoints written before a setting existed resume when
        # the run leaves it unset
        keys = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
        if keys:
            diffs = ", ".join(f"{k}: checkpoint={saved.get(k)!r} run={self.config.get(k)!r}" for k in keys)
            unrecorded = [k for k in keys if k not in saved]
            note = (
                f" The checkpoint does not record {unrecorded} (written before they were checked), so it cannot be "
                "shown to match: finish it with the version that wrote it, or start again in a new output directory."
                if unrecorded
                else ""
            )
            raise ValueError(
                f"cannot resume: the checkpoint was written by a run with a different configuration ({diffs}). "
                "Use a new output directory, or restore the original settings." + note
            )


class _AtomicDiskSaver(DiskSaver):
    """Ignite's ``DiskSaver`` writing through :func:`monai_chpnet.atomic.atomic_path` (temp file, checked, renamed),
    leaving files world-readable like a plain save; with
    ``filename`` every save goes to that one name (the model zoo's ``models/model.pt``) and nothing is removed."""

    def __init__(self, dirname: str, filename: Optional[str] = None) -> None:
        super().__init__(dirname, atomic=True, require_empty=False, create_dir=True)
        self.filename = filename

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Optional[Mapping] = None) -> None:
        path = os.path.join(self.dirname, self.filename or filename)
        with atomic_path(path) as tmp:  # checked (a complete zip archive) before the rename
            torch.save(checkpoint, tmp, **self.kwargs)
        if os.path.exists(path):
            os.chmod(path, 0o644)

    def remove(self, filename: str) -> None:
        if self.filename is None:
            super().remove(filename)


class AtomicCheckpointSaver:
    """Save ``save_dict`` atomically (temp file, then rename), so a run killed while saving keeps its last file.

    Two uses:

    * attached to the **trainer**: every ``save_interval`` iterations, at every epoch end (after the other
      epoch-end handlers when attached after them, as the bundle configs do, so an epoch's last iteration is
      saved with its LR step and validation) and on completion, to
      ``checkpoint_checkpoint_<iteration>.pt`` (the ``n_saved`` newest are kept) -- what
      :class:`ResumeFromCheckpoint` resumes from;
    * attached to the **evaluator** with ``key_metric_name``: whenever that metric (higher is better) improves,
      to ``key_metric_filename`` (e.g. ``model.pt``; a single-object ``save_dict`` is stored as the bare
      ``state_dict``, as model-zoo bundles expect) or, without one, ``best_checkpoint_<epoch>_<metric>=<v>.pt``.

    Only the main process writes.

    Args:
        save_dir: output folder (created).
        save_dict: objects with ``state_dict``: networks, optimizers, schedulers, the trainer (engine state),
            :class:`RunConfig`, ``DynamicKDWeight``; entries that are ``None`` (a part the run does without, e.g.
            the teacher of ``kd="none"``) are left out.
        save_interval: iterations between saves (0: only at epoch ends and completion).
        n_saved: how many to keep.
        key_metric_name: save the best by this evaluator metric.
        key_metric_filename: fixed file name of the best checkpoint.
    """

    def __init__(
        self,
        save_dir: str,
        save_dict: Mapping[str, Any],
        save_interval: int = 0,
        n_saved: int = 2,
        key_metric_name: Optional[str] = None,
        key_metric_filename: Optional[str] = None,
    ) -> None:
        self.save_dir, self.save_interval = str(save_dir), int(save_interval)
        self.key_metric_name = key_metric_name
        best = key_metric_name is not None
        self.checkpoint = Checkpoint(
            {k: v for k, v in save_dict.items() if v is not None},
            _AtomicDiskSaver(self.save_dir, key_metric_filename if best else None),
            filename_prefix="best" if best else CHECKPOINT_PREFIX,
            n_saved=1 if (best and key_metric_filename) else n_saved,
            score_function=(lambda e: float(e.state.metrics[key_metric_name])) if best else None,
            score_name=key_metric_name,
            global_step_transform=lambda e, _: e.state.epoch if best else e.state.iteration,
        )

    def attach(self, engine: Engine) -> None:
        if self.key_metric_name is not None:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._save_best)
            return
        if self.save_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_interval), self._save_mid_epoch)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._save)
        engine.add_event_handler(Events.COMPLETED, self._save)

    def state_dict(self) -> Dict[str, Any]:
        """The saved files and their scores (Ignite's ``Checkpoint`` state): put a best-metric saver in the
        training checkpoint's ``save_dict`` so that a resumed run keeps its best score and does not overwrite
        ``model.pt`` with a worse first validation."""
        return self.checkpoint.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.checkpoint.load_state_dict(state)

    def _save_best(self, engine: Engine) -> None:
        if is_main_process():
            self.checkpoint(engine)

    def _save_mid_epoch(self, engine: Engine) -> None:
        # an epoch's last iteration is saved at EPOCH_COMPLETED instead, after the epoch-end handlers (epoch-level
        # LR step, validation, dynamic KD weight): saved here, the checkpoint would miss their updates
        if engine.state.epoch_length and engine.state.iteration % engine.state.epoch_length == 0:
            return
        self._save(engine)

    def _save(self, engine: Engine) -> None:
        if not is_main_process():
            return
        last = self.checkpoint.last_checkpoint
        match = _CKPT_RE.search(str(last)) if last is not None else None
        if match and int(match.group(1)) == engine.state.iteration:
            return  # already saved at this iteration (e.g. interval and epoch end coincide)
        self.checkpoint(engine)


def latest_checkpoint(save_dir: str) -> Optional[Path]:
    """The newest ``checkpoint_checkpoint_<iteration>.pt`` in ``save_dir`` (by iteration), or ``None``."""
    folder = Path(save_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_RE.search(p.name))]
    return max(found)[1] if found else None


class ResumeFromCheckpoint:
    """Restore the newest checkpoint of ``save_dir`` (if any) into ``load_dict`` at ``STARTED``; it is checked
    already when attached, so a refused resume stops before the engine starts.

    The engine continues from the saved epoch and iteration (mid-epoch too) with the saved optimizer and
    scheduler states; ``max_epochs`` of the current run is kept. Include the trainer itself under ``"trainer"``
    and the :class:`RunConfig` under ``"run_config"`` in ``load_dict``.

    Raises:
        ValueError: the checkpoint belongs to another architecture (names the object and the first differing
            keys) or to a run with a different configuration.
    """

    def __init__(self, save_dir: str, load_dict: Mapping[str, Any], map_location: Any = "cpu") -> None:
        self.save_dir, self.map_location = str(save_dir), map_location
        self.load_dict = {k: v for k, v in load_dict.items() if v is not None}  # as AtomicCheckpointSaver saves
        self.loaded_from: Optional[Path] = None
        self._checked: Optional[Tuple[Path, Dict[str, Any], Dict[str, Any]]] = None

    def attach(self, engine: Engine) -> None:
        """Check the checkpoint now -- a refused resume stops before the engine starts, as one error, not inside
        the run -- and restore it at ``STARTED``."""
        self._checked = self.check()
        engine.add_event_handler(Events.STARTED, self)

    def check(self) -> Optional[Tuple[Path, Dict[str, Any], Dict[str, Any]]]:
        """The newest checkpoint, verified against ``load_dict``: ``(path, checkpoint, objects to load)``, or
        ``None`` when there is none. Raises the errors listed in the class docstring."""
        path = latest_checkpoint(self.save_dir)
        if path is None:
            return None
        checkpoint = torch.load(path, map_location=self.map_location, weights_only=True)
        missing = sorted(set(self.load_dict) - set(checkpoint))
        # a best-metric saver's state was added to checkpoints later: without it the run resumes, forgetting its
        # best score (the next validation rewrites the best weights)
        optional = [k for k in missing if isinstance(self.load_dict[k], AtomicCheckpointSaver)]
        if optional:
            logger.warning(
                f"checkpoint {path} has no {optional} (written before it was saved): resuming without the "
                "best score so far; the next validation will replace the best weights."
            )
            missing = [k for k in missing if k not in optional]
        if missing:
            raise ValueError(f"checkpoint {path} has no entries {missing} (it has {sorted(checkpoint)}).")
        load_dict = {k: v for k, v in self.load_dict.items() if k in checkpoint}
        if "run_config" in load_dict:  # check the configuration before touching any weights
            load_dict["run_config"].load_state_dict(checkpoint["run_config"])
        for name, obj in load_dict.items():
            if isinstance(obj, torch.nn.Module):
                result = describe_state_mismatch(obj, checkpoint[name])
                if result:
                    raise ValueError(f"checkpoint {path}: entry {name!r} is from another architecture ({result}).")
        return path, checkpoint, load_dict

    def __call__(self, engine: Engine) -> None:
        checked, self._checked = self._checked, None
        if checked is None or checked[0] != latest_checkpoint(self.save_dir):
            checked = self.check()  # called without attach, or a newer checkpoint appeared since
        if checked is None:
            return
        path, checkpoint, load_dict = checked
        prior_max_epochs = engine.state.max_epochs
        Checkpoint.load_objects(to_load=load_dict, checkpoint=checkpoint, strict=True)
        if prior_max_epochs is not None:
            engine.state.max_epochs = max(prior_max_epochs, engine.state.epoch)
        self.loaded_from = path
        engine.logger.info(f"resumed from {path} at epoch {engine.state.epoch}, iteration {engine.state.iteration}")


class DynamicKDWeightHandler:
    """After each validation, set ``alpha_t`` from the student/teacher error gap (``DynamicKDWeight.update``).

    Attach to the evaluator; reads two lower-is-better metrics (e.g. ``val_nmse`` and ``teacher_nmse``).
    """

    def __init__(self, alpha: Any, student_metric: str = "val_nmse", teacher_metric: str = "teacher_nmse") -> None:
        self.alpha, self.student_metric, self.teacher_metric = alpha, student_metric, teacher_metric

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        metrics = engine.state.metrics
        for name in (self.student_metric, self.teacher_metric):
            if name not in metrics:
                raise KeyError(
                    f"DynamicKDWeightHandler needs metric {name!r}; the evaluator computed {sorted(metrics)}."
                )
        value = self.alpha.update(metrics[self.student_metric], metrics[self.teacher_metric])
        engine.state.metrics["alpha"] = value
        engine.logger.info(f"dynamic KD weight alpha_t = {value:.4f}")


class ComparisonFigureSaver:
    """Write one PNG per validation: input | student | teacher | target | |error| for the first batch item.

    Attach to the evaluator (``ReconEvaluator`` outputs). Files ``comparison_epoch<NNNN>.png`` in ``output_dir``,
    written atomically by the main process only; the error panel is scaled x ``error_gain``.
    """

    def __init__(
        self,
        output_dir: str,
        keys: Sequence[str] = (ReconKeys.ZERO_FILLED, ReconKeys.PRED, ReconKeys.TEACHER_PRED, CommonKeys.LABEL),
        error_gain: float = 5.0,
    ) -> None:
        self.output_dir, self.keys, self.error_gain = Path(output_dir), tuple(keys), error_gain
        self._panels: Optional[list] = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, lambda e: setattr(self, "_panels", None))
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._grab)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _grab(self, engine: Engine) -> None:
        if self._panels is not None:
            return
        out = engine.state.output
        first = {k: out[k][0, 0].detach().float().cpu().numpy() for k in self.keys if out.get(k) is not None}
        self._panels = list(first.values())
        if CommonKeys.LABEL in first and ReconKeys.PRED in first:
            self._panels.append(np.abs(first[CommonKeys.LABEL] - first[ReconKeys.PRED]) * self.error_gain)

    def _write(self, engine: Engine) -> None:
        if not self._panels or not is_main_process():
            return
        from monai_chpnet.figures import save_png_row, to_uint8

        vmax = float(max(p.max() for p in self._panels))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        save_png_row(
            [to_uint8(p, vmax) for p in self._panels], self.output_dir / f"comparison_epoch{engine.state.epoch:04d}.png"
        )


class EpochSetter:
    """Call ``dataset.set_epoch(epoch)`` at each epoch start (e.g. ``MixedDataset``, ``DistributedSampler``)."""

    def __init__(self, target: Any) -> None:
        if not hasattr(target, "set_epoch"):
            raise TypeError(f"{type(target).__name__} has no set_epoch method.")
        self.target = target

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, lambda e: self.target.set_epoch(e.state.epoch - 1))
