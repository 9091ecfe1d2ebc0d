"""The code base stays ruff-clean (the style rules live in pyproject.toml)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys


def test_ruff_clean():
    repo = pathlib.Path(__file__).resolve().parent.parent
    ruff = shutil.which("ruff") or str(pathlib.Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, "check", str(repo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
