"""A stand-in for torchvision on the stock-app test server's path, used only where torchvision is not installed.

MONAI Label 0.8.5's ``BundleInferTask`` imports ``monailabel.transform.post``, which imports ``make_grid`` and
``save_image`` from ``torchvision.utils`` at module level, for its pathology transforms. The bundle's path never
calls them. PyPI's torchvision is a CUDA build that cannot be imported next to the CPU torch this project pins, and
no CPU build is reachable offline, so the test server gets these two names; they refuse to run.
"""
