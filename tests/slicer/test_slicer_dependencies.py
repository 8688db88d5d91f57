"""Where the module finds monai_chpnet, and what it would install on first use (no Slicer, no MRML needed)."""

from mrml_support import MODULE_DIR, ROOT

from CHPNetReconLib import dependencies


def test_the_checkout_around_the_module_is_found(monkeypatch, tmp_path):
    monkeypatch.delenv(dependencies.SOURCE_ENV, raising=False)
    assert dependencies.MODULE_DIR == MODULE_DIR
    assert dependencies.find_source_checkout() == ROOT
    assert dependencies.is_source_checkout(ROOT) and not dependencies.is_source_checkout(tmp_path)
    monkeypatch.setenv(dependencies.SOURCE_ENV, str(ROOT))
    assert dependencies.find_source_checkout() == ROOT


def test_monai_chpnet_root_is_what_the_worker_needs_on_its_path():
    root = dependencies.monai_chpnet_root()
    assert root is not None and (root / "monai_chpnet" / "inference" / "__init__.py").is_file()
    assert dependencies.monai_chpnet_importable()
    assert dependencies.ensure_source_on_path() is None  # installed: nothing to add


def test_missing_requirements_checks_names_and_versions():
    assert dependencies.missing_requirements(dependencies.read_requirements()) == []  # this venv has them all
    assert dependencies.missing_requirements(["torch>=999", "numpy>=1", "surely-not-installed-chpnet-xyz"]) == [
        "torch>=999",
        "surely-not-installed-chpnet-xyz",
    ]
