"""Reconstruct a list of files and write each one's outputs: the Python-side equivalent of running
``inference.json`` (whose own pipeline is the MONAI components of :mod:`.pipeline`)."""

from __future__ import annotations

import os
from typing import Any, List, Mapping, Optional, Sequence, Union

from torch import nn

from monai_chpnet.inference.outputs import plan_outputs, write_outputs
from monai_chpnet.inference.reconstruction import reconstruct_file
from monai_chpnet.inference.settings import ReconSettings
from monai_chpnet.inference.results import ReconstructionResult

__all__ = ["FileReconstructor"]


class FileReconstructor:
    """Reconstruct each input file and write its outputs.

    ``run()`` checks every input and output name first (:func:`~.outputs.plan_outputs`), then calls
    :func:`~.reconstruction.reconstruct_file` + :func:`~.outputs.write_outputs` for every entry of ``dataset``
    (paths, or dicts with an ``"image"`` path), prints the metrics, and returns the results.

    Args:
        dataset: the inputs; network: the student (``None``: zero-filled); output_dir: where the outputs go.
        settings: how to reconstruct; other keyword arguments: fields of :class:`~.settings.ReconSettings`.
    """

    def __init__(
        self,
        dataset: Sequence[Union[str, os.PathLike, Mapping[str, Any]]],
        network: Optional[nn.Module],
        output_dir: Union[str, os.PathLike],
        settings: Optional[ReconSettings] = None,
        **kwargs: Any,
    ) -> None:
        self.dataset, self.network, self.output_dir = list(dataset), network, output_dir
        self.settings = (settings or ReconSettings()).replace(**kwargs)

    def run(self) -> List[ReconstructionResult]:
        """Reconstruct every input and write its outputs.

        Raises:
            ValueError: no inputs, or two inputs whose outputs would have the same names (``a/brain.nii.gz`` and
                ``b/brain.nii.gz``), checked before anything is written, so no output overwrites another.
        """
        results = []
        for item in plan_outputs(self.dataset, self.output_dir):
            result = reconstruct_file(item["image"], self.network, settings=self.settings)
            paths = write_outputs(result, self.output_dir)
            print(result.summary())
            print("  written:", ", ".join(str(p) for p in paths.values()))
            results.append(result)
        return results
