"""The README's GANOverSampler example, unchanged, as people run it: a plain script with no
``if __name__ == "__main__":`` guard, piped into ``python -`` from stdin, and as the cells of
examples/oversampler.ipynb in a real Jupyter kernel. Spawned worker processes used to re-run the
caller's script and die (BrokenProcessPool); these runs share one folder, so the script's run trains
the GAN and the other two reuse it from ``work_dir``, as a user's rerun would."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "oversampler.ipynb"
BALANCED = "[178 182  15] -> [182 182 182]"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## As a library"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readme-example")


def _run(args: list[str], folder: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=folder, input=stdin, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONWARNINGS": "default"})


@pytest.mark.slow
def test_the_readme_example_runs_as_a_plain_script(folder):
    script = folder / "example.py"
    script.write_text(readme_example(), encoding="utf-8")
    done = _run([sys.executable, str(script)], folder)
    assert done.returncode == 0, done.stderr[-3000:]
    # Up to one synthetic row per real two (mix.dose 1): how many pass the filters varies with the
    # machine's thread count, which changes the GAN's floating-point sums.
    assert BALANCED in done.stdout and 0 < int(re.search(r"'used': (\d+)", done.stdout).group(1)) <= 15
    assert "GAN ready after 300 steps" in done.stderr  # verbose=1: the log lines on stderr
    assert (folder / "runs" / "example").is_dir()


@pytest.mark.slow
def test_the_readme_example_runs_from_stdin(folder):
    done = _run([sys.executable, "-"], folder, stdin=readme_example())
    assert done.returncode == 0, done.stderr[-3000:]
    assert BALANCED in done.stdout and "Traceback" not in done.stderr


def test_the_notebook_holds_the_readme_example_cell_by_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert "\n\n".join(code) + "\n" == readme_example()
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # saved clean


@pytest.mark.slow
def test_the_notebook_runs_in_a_real_kernel_and_shows_progress(folder):
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert BALANCED in text and not [o for o in outputs if o.output_type == "error"]
    assert re.search(r"\d\d:\d\d:\d\d  class 2: \d+/15 accepted", text)  # the log lines, in the notebook
    # rich draws the progress bars into a Jupyter widget (ipywidgets); without it, it only warns.
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "no progress bars in the notebook"
    assert "ipywidgets" not in text + str(outputs)


# The validation grid on two joblib workers, in a script with no __main__ guard: the workers must not
# re-run it (spawned processes did, and died with BrokenProcessPool).
GRID_SCRIPT = '''
import os
import numpy as np
from sklearn.datasets import load_digits
from gan_aug import GANOverSampler

X, y = load_digits(n_class=3, return_X_y=True)
keep = np.concatenate([np.flatnonzero(y == k)[:n] for k, n in enumerate([40, 40, 10])])
sampler = GANOverSampler(image_shape=(8, 8), pixel_range=(0, 16), n_jobs=2, work_dir="runs/grid",
                         gan={"steps": 20, "eval_every": 0}, filter={"filters": [], "feature_steps": 20},
                         mix={"doses": [1.0], "weights": [1.0], "seeds": 2, "steps": 20, "bootstrap_rounds": 50},
                         evaluate={"steps": 20})
X_res, y_res = sampler.fit_resample(X[keep], y[keep])
print("ran in", os.getpid(), "balanced", np.bincount(y_res).tolist(), "grid", len(sampler.mix_["curve"]))
'''


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "stdin"])
def test_worker_processes_never_rerun_an_unguarded_script(folder, how):
    script = folder / "grid.py"
    script.write_text(GRID_SCRIPT, encoding="utf-8")
    args, stdin = ([sys.executable, str(script)], None) if how == "script" else ([sys.executable, "-"], GRID_SCRIPT)
    done = _run(args, folder, stdin)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("ran in") == 1 and "balanced [40, 40, 40] grid 2" in done.stdout, done.stdout
