"""monai-chpnet: fast MRI reconstruction by heterogeneous knowledge distillation, built on MONAI.

Sub-packages follow the data flow (file -> transform -> network -> loss/engine -> bundle -> viewer):
``transforms``, ``data``, ``networks``, ``losses``, ``engines``, with ``kspace`` (FFT, masks, complex
helpers) and ``metrics`` shared below them.
"""

__version__ = "0.1.0"
