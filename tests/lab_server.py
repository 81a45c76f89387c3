"""Start JupyterLab on 127.0.0.1 for a test, isolated from the user's settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "hlmteach-test-token"
#: Debian's Chromium, or the browser named by HLMTEACH_CHROMIUM (e.g. on macOS).
CHROMIUM = Path(os.environ.get("HLMTEACH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts"


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it is and how to log in."""

    base_url: str
    token: str
    pid: int

    def url(self, path: str) -> str:
        """A URL on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"


def require_chromium() -> Path:
    """The browser for the browser tests; a missing one fails the test, it never skips it."""
    import pytest

    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run 'make browser' (apt-get install chromium), "
            "or point HLMTEACH_CHROMIUM at a Chromium or Chrome binary. The browser tests must "
            "run; they are never skipped."
        )
    ARTIFACTS.mkdir(exist_ok=True)
    return CHROMIUM


@contextmanager
def chromium_page(playwright, width: int = 1400, height: int = 1000) -> Iterator:
    """A page in headless Chromium, closed (with the browser) when the block ends."""
    browser = playwright.chromium.launch(
        executable_path=str(require_chromium()), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser.new_page(viewport={"width": width, "height": height})
    finally:
        browser.close()


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
    # Every cell in the DOM (no windowing), so that a test sees all prompts and outputs.
    tracker = config / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
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
    lab = Lab(f"http://127.0.0.1:{port}", TOKEN, server.pid)
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


@dataclass
class KernelMemory:
    """Samples the total resident memory of a lab's kernels, several times a second.

    ``peak`` is the largest sum of the RSS of all kernel processes (children of
    the server running ``ipykernel``) seen at one moment; ``peaks`` keeps that
    peak for each phase named with :meth:`phase`.
    """

    server_pid: int
    interval: float = 0.2
    peak: int = 0
    peaks: dict[str, int] = field(default_factory=dict)
    _phase: str = "start"
    _stop: threading.Event = field(default_factory=threading.Event)

    def kernels(self) -> list[psutil.Process]:
        """The server's kernel processes now."""
        try:
            children = psutil.Process(self.server_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            try:
                if "ipykernel" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        return found

    def total(self) -> int:
        """The summed RSS of the kernels now, in bytes."""
        total = 0
        for kernel in self.kernels():
            with suppress(psutil.Error):
                total += kernel.memory_info().rss
        return total

    def phase(self, name: str) -> None:
        """Attribute the samples from now on to ``name`` (a notebook, say)."""
        self._phase = name

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.total()
            self.peak = max(self.peak, now)
            self.peaks[self._phase] = max(self.peaks.get(self._phase, 0), now)
            self._stop.wait(self.interval)

    @contextmanager
    def sampling(self) -> Iterator[KernelMemory]:
        """Sample in a background thread until the block ends."""
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)
