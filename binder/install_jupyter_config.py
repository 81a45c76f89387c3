"""Install the course's jupyter-server settings into this Python environment's Jupyter config.

Usage: ``python binder/install_jupyter_config.py`` with the environment's Python
(``binder/postBuild`` on Binder, ``make lab`` and ``make test`` for ``.venv``).

The settings, ``binder/jupyter_server_config.json``, shut down kernels and
terminals that have been idle for 20 minutes, so that a participant's forgotten
kernels do not exhaust Binder's memory. They are merged into
``<sys.prefix>/etc/jupyter/jupyter_server_config.json``, which every
jupyter-server started from this environment reads (JupyterLab and Binder's
``jupyterhub-singleuser`` alike); settings already there for other sections are kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SETTINGS = Path(__file__).resolve().with_name("jupyter_server_config.json")


def install(prefix: Path = Path(sys.prefix)) -> Path:
    """Merge the course's settings into ``prefix``'s jupyter_server_config.json; return its path."""
    target = prefix / "etc" / "jupyter" / "jupyter_server_config.json"
    config = json.loads(target.read_text()) if target.exists() else {}
    for section, values in json.loads(SETTINGS.read_text()).items():
        config.setdefault(section, {}).update(values)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return target


if __name__ == "__main__":
    print(f"jupyter-server settings installed in {install()}")
