"""``python -m xinyong`` runs the CLI as the ``xinyong`` console script does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import xinyong


def test_python_dash_m_xinyong_is_the_cli(tmp_path: Path) -> None:
    src = str(Path(xinyong.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    r = subprocess.run([sys.executable, "-m", "xinyong", "--help"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage: xinyong" in r.stdout and "maintain" in r.stdout and "import" in r.stdout
    r = subprocess.run([sys.executable, "-m", "xinyong", "import", "--help"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and "--item" in r.stdout and "--dept" in r.stdout
