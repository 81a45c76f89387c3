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
