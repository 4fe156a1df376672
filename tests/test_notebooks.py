"""Every notebook runs from a clean kernel, so none of them rots.

The notebooks are committed with their outputs (they read well on a web page); here they are executed
again, top to bottom, with nbclient, in a fresh `python3` kernel of this very environment.
"""
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def execute(nb, cwd: Path):
    # jupyter_client starts the `python3` kernelspec with this interpreter (sys.executable), so the kernel
    # sees the same installation of symexpr as the tests.
    client = NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def test_the_notebooks_are_there():
    assert [p.name for p in ALL] == ["01_imperative_vs_symbolic.ipynb", "02_optimizer.ipynb",
                                     "03_inside_the_kernel.ipynb", "04_hybridize_adam.ipynb",
                                     "05_train_a_network.ipynb", "06_without_python.ipynb",
                                     "07_dask.ipynb"]


def test_kernel_is_this_environment(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys, symexpr; print(sys.prefix); print(symexpr.__file__)"))
    out = execute(nb, tmp_path).cells[0].outputs[0]["text"].split()
    assert out[0] == sys.prefix
    import symexpr
    assert Path(out[1]) == Path(symexpr.__file__)


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_executes(path):
    committed = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    execute(fresh, NOTEBOOKS)
    code = [c for c in fresh.cells if c.cell_type == "code"]
    # Every code cell ran, none raised, and the story's pictures were drawn.
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    pictures = sum(1 for c in code for o in c.outputs
                   if o.output_type == "display_data" and ("image/png" in o.data or "image/svg+xml" in o.data
                                                          or "text/html" in o.data))
    assert pictures >= 1
    # The committed copy was executed and carries its outputs, so it reads well without running.
    committed_code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in committed_code)
    assert sum(len(c.outputs) for c in committed_code) >= sum(1 for c in code if c.outputs)
