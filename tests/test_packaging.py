"""The course's environment: wheel data, Binder's pins, the widget extension, the lab."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from lab_server import running_lab

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_every_runtime_dependency_is_pinned_for_binder():
    from importlib.metadata import requires

    runtime = [r for r in requires("hlmteach") if "extra ==" not in r]
    assert "numpy>=1.24" in runtime
    pins = _pins(ROOT / "binder" / "requirements.txt")
    for requirement in [*runtime, "jupyterlab", "pyreadstat"]:
        name = re.split(r"[<>=!~\[ ]", requirement)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is a dependency but binder/requirements.txt does not pin it"


def test_binder_installs_the_package_itself():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post_build and "pip install --no-deps ." in post_build
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)


def test_makefile_builds_the_environment_from_binder_pins():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -r binder/requirements.txt -r tests/requirements.txt" in makefile


def test_this_environment_is_the_pinned_one():
    from importlib.metadata import version

    pins = _pins(ROOT / "binder" / "requirements.txt")
    for name in ("numpy", "scipy", "pandas", "statsmodels", "jupyterlab", "ipywidgets"):
        assert version(name) == pins[name], f"{name} {version(name)} is not Binder's {pins[name]}"


def test_widget_extension_is_enabled_in_jupyterlab():
    listing = subprocess.run(
        [str(BIN / "jupyter"), "labextension", "list"], capture_output=True, text=True, check=True
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)  # drop colours
    assert re.search(r"@jupyter-widgets/jupyterlab-manager v\S+ enabled\s+OK", text), text


def test_wheel_carries_every_data_set(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("hlmteach-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import hlmteach as hlm, pathlib\n"
        f"assert pathlib.Path(hlm.__file__).is_relative_to({str(target)!r}), hlm.__file__\n"
        "t = hlm.load_timss(); h = hlm.load_hsb(); p = hlm.load_pisa()\n"
        "print(len(t), t['school'].nunique(), len(h), h['school'].nunique())\n"
        "print(len(p), p['schoolid'].nunique(), p['schoolid'].iloc[0])\n"
        "import importlib.resources as r\n"
        "print(r.files('hlmteach.datasets').joinpath('pisa2012_usa.md').is_file())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["9845", "333", "7185", "160", "3136", "157", "0000001", "True"]


def test_lab_serves_the_first_notebook(tmp_path):
    with running_lab(tmp_path) as lab:
        api = lab.url("api/contents/notebooks/00_start_here.ipynb")
        with urllib.request.urlopen(api, timeout=10) as response:
            assert response.status == 200
            assert json.loads(response.read())["type"] == "notebook"
        page = lab.url("lab/tree/notebooks/00_start_here.ipynb")
        with urllib.request.urlopen(page, timeout=10) as response:
            assert response.status == 200
            assert b"JupyterLab" in response.read()


def test_binder_leaves_no_build_folders():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    install = post_build.index("pip install --no-deps .")
    assert post_build.index("rm -rf build ./*.egg-info") > install


def test_lab_needs_no_test_tools_and_runs_as_root():
    makefile = (ROOT / "Makefile").read_text()
    lab_rule = makefile.split("\n$(LAB_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "tests/requirements.txt" not in lab_rule
    assert "lab: $(LAB_STAMP)" in makefile
    assert "$(ALLOW_ROOT)" in makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]


# --- The release tag, the frame of every notebook, Binder's settings, the set-up claims ---

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _project() -> dict:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]


def _release_tag() -> str:
    return "v" + _project()["version"]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_readme_notebooks_and_site_launch_the_release_tag():
    import hlmteach

    tag = _release_tag()
    assert hlmteach.__version__ == _project()["version"]
    base = f"https://mybinder.org/v2/gh/hlmteach/hlmteach/{tag}?urlpath=lab/tree/notebooks/"
    readme = (ROOT / "README.md").read_text()
    assert base + "00_start_here.ipynb" in readme
    assert f"**{tag}**" in readme
    for path in NOTEBOOKS:
        first = "".join(_cells(path)[0]["source"])
        assert first.startswith("[![Launch"), path.name
        assert base + path.name in first, f"{path.name} does not launch itself at {tag}"
    config = (ROOT / "book" / "_config.yml").read_text()
    assert 'branch: "{release_tag}"' in config  # filled in from pyproject by build_site.py
    for text in [readme, config, *(p.read_text() for p in NOTEBOOKS)]:
        assert not re.search(r"mybinder\.org/v2/gh/[^)\s\"]*/(HEAD|main|master)\b", text)


def test_every_notebook_ends_by_saying_how_to_shut_its_kernel_down():
    for path in NOTEBOOKS:
        last = _cells(path)[-1]
        text = "".join(last["source"])
        assert last["cell_type"] == "markdown", path.name
        assert "Kernel ▸ Shut Down Kernel" in text and "Running Terminals and Kernels" in text
        assert "memory" in text and "Binder" in text


def test_every_cell_has_slide_metadata_and_solutions_are_not_slides():
    for path in NOTEBOOKS:
        cells = _cells(path)
        kinds = [c["metadata"].get("slideshow", {}).get("slide_type") for c in cells]
        assert None not in kinds, f"{path.name}: a cell has no slideshow metadata"
        assert kinds[0] == "slide" and kinds[-1] == "skip"
        assert kinds.count("slide") >= 2, path.name
        for cell, kind in zip(cells, kinds, strict=True):
            if "".join(cell["source"]).lstrip().startswith("<details><summary>Solution"):
                assert kind == "skip", path.name


def test_the_frame_script_finds_nothing_to_change():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "course_frame.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_binder_culls_idle_kernels(tmp_path):
    settings = json.loads((ROOT / "binder" / "jupyter_server_config.json").read_text())
    kernels = settings["MappingKernelManager"]
    assert 0 < kernels["cull_idle_timeout"] <= 1800
    assert kernels["cull_connected"] is True and kernels["cull_busy"] is False
    assert "python binder/install_jupyter_config.py" in (ROOT / "binder" / "postBuild").read_text()
    # The settings are installed in this environment (by make) and a jupyter-server reads them.
    shown = subprocess.run(
        [str(BIN / "jupyter"), "server", "--show-config-json"],
        cwd=tmp_path,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(shown.stdout[shown.stdout.index("{") :])
    assert config["MappingKernelManager"]["cull_idle_timeout"] == kernels["cull_idle_timeout"]


def test_installing_the_settings_keeps_other_sections(tmp_path):
    sys.path.insert(0, str(ROOT / "binder"))
    try:
        from install_jupyter_config import install
    finally:
        sys.path.remove(str(ROOT / "binder"))
    target = tmp_path / "etc" / "jupyter" / "jupyter_server_config.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"ServerApp": {"ip": "0.0.0.0"}}))
    install(tmp_path)
    config = json.loads(target.read_text())
    assert config["ServerApp"] == {"ip": "0.0.0.0"}
    assert config["MappingKernelManager"]["cull_connected"] is True


def test_every_lab_extension_is_compatible_and_rise_is_there():
    listing = subprocess.run(
        [str(BIN / "jupyter"), "labextension", "list"], capture_output=True, text=True, check=True
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    assert re.search(r"jupyterlab-rise v\S+ enabled\s+OK", text), text
    assert "not compatible" not in text and "may be outdated" not in text, text


def test_binder_installs_no_test_tools():
    pins = _pins(ROOT / "binder" / "requirements.txt")
    tools = _pins(ROOT / "tests" / "requirements.txt")
    for tool in ("pytest", "nbval", "playwright", "ruff", "hypothesis", "jupyter-book"):
        assert tool in tools and tool not in pins, tool
    assert "tests/requirements.txt" not in (ROOT / "binder" / "postBuild").read_text()


def test_the_python_claims_agree_with_what_the_pins_need():
    project = _project()
    assert project["requires-python"] == ">=3.11.5,<3.14"
    versions = sorted(
        c.rsplit(":: ", 1)[1] for c in project["classifiers"] if re.search(r"Python :: 3\.\d+$", c)
    )
    assert versions == ["3.11", "3.12", "3.13"]
    assert "Python 3.11.5 to 3.13" in (ROOT / "README.md").read_text()
    assert "Python 3.11.5 to 3.13" in (ROOT / "binder" / "requirements.txt").read_text()
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


def test_make_refuses_a_python_the_pins_cannot_serve(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    check = re.search(r"^PYTHON_OK := (.+)$", makefile, re.M).group(1)
    verdicts = {}
    for version in [(3, 10, 13), (3, 11, 2), (3, 11, 5), (3, 11, 7), (3, 13, 0), (3, 14, 0)]:

        def leave(code, version=version):
            verdicts[version] = not code

        fake = type("sys", (), {"version_info": version, "exit": staticmethod(leave)})
        exec(check.replace("import sys; ", ""), {"sys": fake})
    assert verdicts == {
        (3, 10, 13): False,
        (3, 11, 2): False,
        (3, 11, 5): True,
        (3, 11, 7): True,
        (3, 13, 0): True,
        (3, 14, 0): False,
    }
    result = subprocess.run(
        ["make", "-s", "lab", "PYTHON=false", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "needs Python 3.11.5 to 3.13" in result.stderr


def test_licence_covers_the_code_and_states_every_shipped_data_set():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "MIT" in _project()["license"] and _project()["license-files"] == ["LICENSE"]
    for data in sorted((ROOT / "data").glob("*.csv")):
        assert f"data/{data.name}" in text, f"LICENSE has no statement for {data.name}"
    assert "Raudenbush" in text and "OECD" in text and "Generated by this project" in text


def test_the_course_scripts_examples_hold():
    import doctest
    import importlib

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        for name in ("course_frame", "student_copy", "build_site"):
            result = doctest.testmod(importlib.import_module(name))
            assert result.attempted > 0 and result.failed == 0, name
    finally:
        sys.path.remove(str(ROOT / "scripts"))
