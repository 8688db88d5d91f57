"""The extension's CMake, module, UI and resource files agree with each other (no Slicer needed).

What Slicer's build and the extension index rely on: names match (CMake MODULE_NAME, folder, script, classes),
every file CMake lists exists and every library file is listed, the ``.ui`` parses and holds every widget the
module uses and one bound widget per parameter-node field, the icon is a 128 x 128 PNG, the requirements match
``setup.py``, and the library imports only MRML / VTK / NumPy at module level.
"""

import ast
import re
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Set

import pytest
from mrml_support import EXTENSION_DIR, MODULE_DIR, ROOT

MODULE = "CHPNetRecon"
MODULE_PY = MODULE_DIR / f"{MODULE}.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / f"{MODULE}.ui"


def _cmake(path: Path) -> str:
    """CMake source without comments."""
    return "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())


def _cmake_list(text: str, variable: str, module_name: str) -> List[str]:
    """Entries of ``set(VARIABLE ...)`` with ``${MODULE_NAME}`` expanded."""
    match = re.search(rf"set\(\s*{variable}\s+(.*?)\)", text, re.S)
    assert match, f"set({variable} ...) not found"
    return [entry.replace("${MODULE_NAME}", module_name) for entry in match.group(1).split()]


def _set_value(text: str, variable: str) -> str:
    match = re.search(rf'set\(\s*{variable}\s+"([^"]*)"', text)
    assert match, f'set({variable} "...") not found'
    return match.group(1)


@pytest.fixture(scope="module")
def module_ast() -> ast.Module:
    return ast.parse(MODULE_PY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ui() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def test_extension_cmake_has_the_index_metadata():
    text = _cmake(EXTENSION_DIR / "CMakeLists.txt")
    assert re.search(rf"project\(\s*{MODULE}\s*\)", text)
    for name in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf"set\(\s*EXTENSION_{name}\s", text), f"EXTENSION_{name} missing"
    assert _set_value(text, "EXTENSION_CATEGORY") == "Reconstruction"
    for url_variable in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        relative = _set_value(text, url_variable).split("/raw/main/", 1)[1]
        assert (ROOT / relative).is_file(), f"{url_variable} points at {relative}, which is not in the repository"
    assert "find_package(Slicer REQUIRED)" in text and "${Slicer_EXTENSION_CPACK}" in text
    subdirs = re.findall(r"add_subdirectory\(\s*(\S+?)\s*\)", text)
    assert subdirs == [MODULE]
    assert all((EXTENSION_DIR / s / "CMakeLists.txt").is_file() for s in subdirs)


def test_module_cmake_lists_exactly_the_files_on_disk():
    text = _cmake(MODULE_DIR / "CMakeLists.txt")
    assert re.search(r"set\(\s*MODULE_NAME\s+(\w+)\s*\)", text).group(1) == MODULE == MODULE_DIR.name
    scripts = _cmake_list(text, "MODULE_PYTHON_SCRIPTS", MODULE)
    resources = _cmake_list(text, "MODULE_PYTHON_RESOURCES", MODULE)
    for entry in scripts + resources:
        assert (MODULE_DIR / entry).is_file(), f"{entry} is listed in CMake but missing"
    library = sorted(str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / f"{MODULE}Lib").glob("*.py"))
    assert sorted(s for s in scripts if s.startswith(f"{MODULE}Lib/")) == library, "library files not all listed"
    assert scripts[0] == f"{MODULE}.py"
    assert set(resources) == {
        f"Resources/Icons/{MODULE}.png",
        f"Resources/UI/{MODULE}.ui",
        "Resources/requirements.txt",
    }
    assert re.search(r"slicerMacroBuildScriptedModule\(.*WITH_GENERIC_TESTS", text, re.S)
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert "add_subdirectory(Testing)" in text


def test_testing_folder_is_wired_into_cmake():
    testing = MODULE_DIR / "Testing"
    assert "add_subdirectory(Python)" in _cmake(testing / "CMakeLists.txt")
    python_cmake = _cmake(testing / "Python" / "CMakeLists.txt")
    scripts = [
        s.replace("${MODULE_NAME}", MODULE)
        for s in re.findall(r"slicer_add_python_unittest\(\s*SCRIPT\s+(\S+)\s*\)", python_cmake)
    ]
    assert scripts and all((testing / "Python" / s).is_file() for s in scripts)


def test_module_script_follows_the_scripted_module_template(module_ast):
    classes: Dict[str, ast.ClassDef] = {n.name: n for n in module_ast.body if isinstance(n, ast.ClassDef)}
    for name, base in (
        (MODULE, "ScriptedLoadableModule"),
        (f"{MODULE}Widget", "ScriptedLoadableModuleWidget"),
        (f"{MODULE}Logic", "ScriptedLoadableModuleLogic"),
        (f"{MODULE}Test", "ScriptedLoadableModuleTest"),
    ):
        assert name in classes, f"class {name} missing"
        assert base in [ast.unparse(b) for b in classes[name].bases]
    assert f"{MODULE}FileReader" in classes  # Slicer finds the .h5 reader by this name
    source = MODULE_PY.read_text(encoding="utf-8")
    for attribute in ("title", "categories", "contributors", "helpText", "acknowledgementText"):
        assert f"self.parent.{attribute} =" in source
    assert 'translate("qSlicerAbstractCoreModule", "Reconstruction")' in source
    for resource in re.findall(r'resourcePath\("([^"]+)"\)', source):
        assert (MODULE_DIR / "Resources" / resource).is_file(), resource


def test_module_imports_only_what_the_library_defines(module_ast):
    for node in module_ast.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{MODULE}Lib"):
            path = MODULE_DIR / (node.module.replace(".", "/") + (".py" if "." in node.module else "/__init__.py"))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            defined = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
            defined |= {
                t.id
                for n in tree.body
                if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                if isinstance(t, ast.Name)
            }
            submodules = {p.stem for p in (MODULE_DIR / f"{MODULE}Lib").glob("*.py")}
            for alias in node.names:
                assert alias.name in defined | submodules, f"{node.module} has no {alias.name}"


def _ui_widgets(ui: ET.Element) -> Dict[str, str]:
    return {w.get("name"): w.get("class") for w in ui.iter("widget")}


def test_ui_parses_and_has_every_widget_the_module_uses(ui):
    assert ui.findtext("class") == MODULE
    widgets = _ui_widgets(ui)
    assert widgets[MODULE] == "qMRMLWidget"
    used = set(re.findall(r"\bui\.(\w+)", MODULE_PY.read_text(encoding="utf-8")))
    missing = used - set(widgets)
    assert not missing, f"widgets used in {MODULE}.py but not in the .ui: {sorted(missing)}"
    declared = {c.findtext("class") for c in ui.iter("customwidget")}
    custom = {cls for cls in widgets.values() if cls.startswith(("ctk", "qMRML"))}
    assert custom <= declared, f"custom widgets not declared: {custom - declared}"
    combos = {n for n, cls in widgets.items() if cls == "qMRMLNodeComboBox"}
    receivers = {
        c.findtext("receiver") for c in ui.iter("connection") if c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"
    }
    assert combos == receivers, "every node selector must receive the scene"


def _parameter_fields(module_ast: ast.Module) -> Set[str]:
    for node in module_ast.body:
        if isinstance(node, ast.ClassDef) and any(
            ast.unparse(d) == "parameterNodeWrapper" for d in node.decorator_list
        ):
            return {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class")


def test_every_parameter_is_bound_to_exactly_one_widget(ui, module_ast):
    bound: List[str] = []
    for widget in ui.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                assert prop.get("stdset") == "0", "SlicerParameterName must be a dynamic property"
                bound.append(prop.findtext("string"))
    fields = _parameter_fields(module_ast)
    assert len(bound) == len(set(bound)), "a parameter is bound twice"
    assert set(bound) == fields, f"unbound: {fields - set(bound)}, unknown: {set(bound) - fields}"


def test_icon_is_a_128_pixel_png():
    data = (MODULE_DIR / "Resources" / "Icons" / f"{MODULE}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (128, 128)


def test_requirements_are_setup_py_runtime_needs_minus_what_slicer_ships():
    sys.path.insert(0, str(MODULE_DIR))
    from CHPNetReconLib.dependencies import REQUIREMENTS_FILE, read_requirements

    setup_tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    install_requires = next(
        ast.literal_eval(n.value)
        for n in setup_tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "INSTALL_REQUIRES"
    )
    shipped_by_slicer = {"numpy", "SimpleITK"}
    only_for_the_bundle_cli = {"fire"}  # `python -m monai.bundle` needs it; the module calls inference directly

    def name(spec: str) -> str:
        return re.match(r"[A-Za-z0-9._-]+", spec).group(0)

    expected = [r for r in install_requires if name(r) not in shipped_by_slicer | only_for_the_bundle_cli]
    assert REQUIREMENTS_FILE == MODULE_DIR / "Resources" / "requirements.txt"
    assert read_requirements() == expected


ALLOWED_THIRD_PARTY = {"numpy", "slicer", "vtk"}


@pytest.mark.parametrize("path", sorted((MODULE_DIR / f"{MODULE}Lib").glob("*.py")), ids=lambda p: p.name)
def test_library_imports_only_mrml_vtk_numpy_at_module_level(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:  # module level only: functions may import monai_chpnet lazily
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for full in names:
            top = full.split(".")[0]
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__", (
                f"{path.name} imports {full} at module level"
            )
