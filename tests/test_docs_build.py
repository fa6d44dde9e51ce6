"""The notebooks as nbdev's documentation build processes them, offline and without Quarto.

`nbdev_docs` (and `nbdev_preview`) first run `proc_nbs` (nbdev/serve.py), which hands each notebook to
`nbdev.serve_drv.main`: it reads the notebook and applies nbdev's processors (`FilterDefaults`, nbdev/processors.py).
One of them, `exec_show_docs`, runs every exported cell, every cell that contains an import, and every `show_doc`
cell, in that order, in a fresh shell and skipping every other cell; a cell that needs a name made by a skipped cell
fails (`NameError`), and the build stops. Quarto only renders what that step wrote, so this step is where the build
breaks. Here each notebook goes through `nbdev.serve_drv.main` as `proc_nbs` would send it, in its own process forked
from one that has imported nbdev (as `proc_nbs`'s worker processes are) and, to save the same import for each notebook,
PyTorch, fastai and mnist37 (tests/forkserver.py); from the project's folder (where `nbdev_docs` runs), with an empty
home folder and no network.
"""
import os
from pathlib import Path
import pytest
from conftest import ROOT, ForkServer

NBS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('.'))

def docs_env(home:Path) -> dict:
    "This environment with `home` as HOME, no MNIST37_DATA (the embedded default), and any download failing at once."
    drop = ('MNIST37_DATA', 'MNIST37_CACHE', 'FASTAI_HOME', 'XDG_CACHE_HOME', 'NO_PROXY', 'no_proxy', 'MPLCONFIGDIR', 'IN_TEST')
    env = {k: v for k, v in os.environ.items() if k not in drop}
    dead = 'http://127.0.0.1:9'  # discard port on loopback: nothing listens
    env.update(HOME=str(home), HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead,
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    return env

@pytest.fixture(scope='module')
def nbdev_docs(tmp_path_factory):
    "nbdev's docs processing, forked for each notebook, in one empty home folder (one cache for every notebook here)."
    server = ForkServer('nbdev-docs', docs_env(tmp_path_factory.mktemp('docs-home')), cwd=ROOT)
    yield server
    if server.proc: server.proc.stdin.close(); server.proc.wait()

@pytest.mark.parametrize('nb', NBS)
def test_nbdev_docs_processing_succeeds(nb, nbdev_docs, tmp_path):
    dest = tmp_path/nb
    r = nbdev_docs.run([str(ROOT/'nbs'/nb), str(dest)])
    assert r.returncode == 0, f'nbdev could not process {nb} for the docs:\n{r.stderr[-3000:]}'
    assert dest.is_file() and dest.stat().st_size > 0
