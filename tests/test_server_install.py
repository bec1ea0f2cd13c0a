"""The wheel carries the prebuilt lab extension and enables the server extension, with no manual step."""
from __future__ import annotations

import json
import re
import subprocess
import zipfile

from .conftest import PYTHON, ROOT, python_env


def run(*argv: str, **kwargs) -> str:
    proc = subprocess.run([PYTHON, "-m", *argv], check=False, capture_output=True, text=True, timeout=300, **kwargs)
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # no colour codes
    assert proc.returncode == 0, output[-3000:]
    return output


def test_wheel_holds_the_lab_extension_and_the_server_config(tmp_path):
    # No build isolation: the lab extension built at install time is reused (skip-if-exists), so this
    # checks the packaging quickly; a fresh clone's `pip install .` builds it with jlpm first.
    run("pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT))
    (wheel,) = tmp_path.glob("jupyter_mlops-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        data = "jupyter_mlops-0.1.0.data/data/"
        lab = data + "share/jupyter/labextensions/jupyter-mlops/"
        assert lab + "package.json" in names and lab + "install.json" in names
        assert any(n.startswith(lab + "static/remoteEntry.") for n in names)
        assert lab + "schemas/jupyter-mlops/plugin.json" in names
        server_config = json.loads(zf.read(data + "etc/jupyter/jupyter_server_config.d/jupyter_mlops.json"))
        assert server_config == {"ServerApp": {"jpserver_extensions": {"jupyter_mlops.server": True}}}
        built = json.loads(zf.read(lab + "package.json"))
        assert built["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
        assert not any(n.startswith("jupyter_mlops/labextension/") for n in names)  # only under share/
        # The tracking server's web page, built beside its handler (not in git), without source maps.
        page = zf.read("jupyter_mlops/server/webui/index.html").decode()
        assert all(f"jupyter_mlops/server/webui/{src}" in names for src in re.findall(r'src="?ui/([^" >]+)', page))
        assert not any(n.startswith("jupyter_mlops/server/webui/") and n.endswith(".map") for n in names)


def test_installed_extensions_are_enabled_and_ok():
    lab = run("jupyter", "labextension", "list", env=python_env())
    line = next((x for x in lab.splitlines() if "jupyter-mlops" in x), "")
    assert re.search(r"jupyter-mlops v0\.1\.0 enabled\s+OK", line), lab
    server = run("jupyter", "server", "extension", "list", env=python_env())
    assert re.search(r"jupyter_mlops\.server enabled", server), server
    assert re.search(r"jupyter_mlops\.server\s+OK", server), server
