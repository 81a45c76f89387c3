"""The course's environment: wheel data, Binder's pins, the widget extension, the lab."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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


def test_wheel_carries_both_data_sets(tmp_path):
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
        "t = hlm.load_timss(); h = hlm.load_hsb()\n"
        "print(len(t), t['school'].nunique(), len(h), h['school'].nunique())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["9845", "333", "7185", "160"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_serves_the_first_notebook(tmp_path):
    port, token = _free_port(), "hlmteach-test-token"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    server = subprocess.Popen(
        [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            "notebooks/00_start_here.ipynb",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents/notebooks/00_start_here.ipynb?token={token}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
                    assert b'"type": "notebook"' in response.read()
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not serve the first notebook within 60 s")
                time.sleep(0.5)
        lab = f"http://127.0.0.1:{port}/lab/tree/notebooks/00_start_here.ipynb?token={token}"
        with urllib.request.urlopen(lab, timeout=10) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
