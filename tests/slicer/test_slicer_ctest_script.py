"""The extension's ctest script (Testing/Python/CHPNetReconLibTest.py) is a valid unittest that passes headlessly too."""

import sys

from mrml_support import MODULE_DIR, skip_without_mrml

skip_without_mrml()

sys.path.insert(0, str(MODULE_DIR / "Testing" / "Python"))

from CHPNetReconLibTest import CHPNetReconLibTest  # noqa: E402,F401  (collected by pytest as a unittest.TestCase)
