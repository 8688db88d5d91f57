"""CHPNetReconLib: the 3D Slicer module's work, as a plain-Python library over MRML, VTK and NumPy.

Nothing here needs Qt, ``slicer.app`` or ``ScriptedLoadableModule``, so every function runs against a headless
``slicer.vtkMRMLScene`` (the ``slicer-core`` wheel) as well as inside Slicer. ``monai_chpnet`` (torch, MONAI) is
imported lazily, inside the functions that reconstruct, or only in the background worker process.

Sub-modules (import them explicitly; this package imports nothing, so that :mod:`.worker` starts light):

* :mod:`.errors`          the exceptions the logic raises, one per kind of bad input;
* :mod:`.volumes`         volume node <-> NumPy ``(K, J, I)`` arrays, slice-axis re-ordering, IJK-to-RAS copies;
* :mod:`.reconstruction`  the request, and the one array-level call into ``monai_chpnet.inference``;
* :mod:`.worker`          ``python -m CHPNetReconLib.worker``: the background process's entry point;
* :mod:`.background`      start / poll / cancel that process (the widget polls it with a ``QTimer``);
* :mod:`.fastmri`         fastMRI ``.h5`` files as volume nodes;
* :mod:`.views`           the linked zero-filled | reconstruction | reference layout;
* :mod:`.logic`           :class:`~.logic.ReconstructionLogic`, what the module's logic class inherits;
* :mod:`.dependencies`    where ``monai_chpnet`` comes from, and what to install on first use.
"""
