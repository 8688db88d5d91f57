"""MONAI Label stays an optional extra: the library never imports it, and the integration says how to install it."""

import subprocess
import sys

import pytest


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_library_does_not_import_monailabel():
    run = _python(
        "import sys\n"
        "import monai_chpnet, monai_chpnet.inference, monai_chpnet.engines, monai_chpnet.networks\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'monailabel'], 'monailabel imported'\n"
    )
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("missing", ["monailabel", "monailabel.interfaces.config"])
def test_without_monailabel_the_integration_says_how_to_install_it(missing):
    # a None entry in sys.modules makes that import fail, as if MONAI Label were not installed
    run = _python(f"import sys; sys.modules[{missing!r}] = None\nimport monai_chpnet.monailabel\n")
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: monai_chpnet.monailabel needs MONAI Label")
    assert "requirements-monailabel.txt" in last and "--no-deps" in last
