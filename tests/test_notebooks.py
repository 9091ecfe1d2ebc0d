"""Every notebook in notebooks/ runs top to bottom on a fresh kernel (issue 5), so the tours never rot."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import tinylogsql

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernel spec running this interpreter, so the kernel imports the tinylogsql under test."""
    spec = tmp_path / "jupyter" / "kernels" / "tinylogsql-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "tinylogsql", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    try:
        importlib.metadata.distribution("tinylogsql")
    except importlib.metadata.PackageNotFoundError:  # a source checkout: let the kernel import it
        source = str(Path(tinylogsql.__file__).resolve().parent.parent)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])))
    return "tinylogsql-test"


def test_there_are_notebooks():
    assert any(path.name == "tour.ipynb" for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, kernel_env, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit without output"
    client = NotebookClient(notebook, kernel_name=kernel_env, timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    html = [o["data"]["text/html"] for o in outputs if "data" in o and "text/html" in o["data"]]
    assert any("<b>Pond</b>" in h for h in html) and any("<b>Directory</b>" in h for h in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plot
    if path.name == "tour.ipynb":
        source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        assert all(f"from {view}" in source for view in ("commits", "history", "files", "diff("))
        assert "from oplog" not in source  # the tour reads the views, not the raw log
        frames = [h for h in html if 'class="dataframe' in h]
        assert len(frames) >= 15  # results shown as DataFrames: the views and README's 12 questions
        assert not any("Decimal(" in o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                       for o in outputs)
        printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        assert all(f"{n}. " in printed for n in range(1, 13))  # README's worked questions, numbered as there


def test_reprs_show_what_a_user_needs(pond):  # the conftest fixture: a fresh pond
    root = pond.root
    root.create_dir_path("/data")
    root.create_file_path("/data/<script>.csv", "a,b\n1,2\n")
    with pond.transaction(message="second <b>commit</b>", author="etl"):
        root.create_symlink_path("/latest", "/data/<script>.csv")
    assert repr(pond) == f"Pond({pond.uri!r}, version=3)"
    assert repr(pond.at(1)) == f"Pond({pond.uri!r}, at=1)"
    assert repr(root.get("/data")) == "Directory('/data', entries=1, version=1)"
    assert repr(root.get("/data/<script>.csv")) == "File('/data/<script>.csv', size=8, version=2)"
    assert repr(root.get("/latest")) == "Symlink('/latest', target='/data/<script>.csv', version=3)"
    html = pond._repr_html_()
    assert pond.uri in html and "version 3" in html
    assert "second &lt;b&gt;commit&lt;/b&gt;" in html and "<b>commit" not in html
    assert "create pond" in html and "etl" in html
    listing = root._repr_html_()
    assert "<script>" not in listing and "<b>data/</b>" in listing
    assert "latest &rarr; /data/&lt;script&gt;.csv" in listing
    data = root.open_dir_path("/data")._repr_html_()
    assert "&lt;script&gt;.csv" in data and "<script>" not in data and "8 B" in data
    modified = root.get("/data/<script>.csv").modified.strftime("%Y-%m-%d %H:%M:%S")
    assert modified in data
    file_html = root.get("/data/<script>.csv")._repr_html_()
    assert "a,b\n1,2" in file_html and root.get("/data/<script>.csv").sha256 in file_html
    assert "version 1 (read-only snapshot)" in pond.at(1)._repr_html_()
    assert "1 entry " in data and "entries" not in data.split("<table")[0]  # the plural is right
    assert "2 entries" in root._repr_html_()
    root.remove("/data/<script>.csv")
    assert repr(root.get("/data")) == "Directory('/data', entries=0, version=1)"  # its own last op
