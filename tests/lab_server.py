"""Start JupyterLab on 127.0.0.1 for a test, isolated from the user's settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "hlmteach-test-token"


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it is and how to log in."""

    base_url: str
    token: str

    def url(self, path: str) -> str:
        """A URL on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_lab(
    tmp_path: Path, start_notebook: str = "notebooks/00_start_here.ipynb", timeout: float = 90.0
) -> Iterator[Lab]:
    """Run ``jupyter lab`` from the repository root until the block ends.

    Its configuration and runtime folders are temporary (so no user workspace or
    setting leaks in) while the environment's own ``share/jupyter`` still provides
    the widget extension; the news announcements are switched off.
    """
    config = tmp_path / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # The kernel must use its own (inline) matplotlib backend, not a test's choice.
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env = {
        **env,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
    }
    port = _free_port()
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.root_dir=.",
            f"--LabApp.default_url=/lab/tree/{start_notebook}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    lab = Lab(f"http://127.0.0.1:{port}", TOKEN)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(lab.url("api/status"), timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"JupyterLab did not start within {timeout:.0f} s; its log:\n"
                    + (tmp_path / "lab.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
