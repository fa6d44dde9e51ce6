"""The notebooks as nbdev's documentation build processes them, offline and without Quarto.

`nbdev_docs` (and `nbdev_preview`) first run `proc_nbs` (nbdev/serve.py), which hands each notebook to
`nbdev.serve_drv.main`: it reads the notebook and applies nbdev's processors (`FilterDefaults`, nbdev/processors.py).
One of them, `exec_show_docs`, runs every exported cell, every cell that contains an import, and every `show_doc`
cell, in that order, in a fresh shell and skipping every other cell; a cell that needs a name made by a skipped cell
fails (`NameError`), and the build stops. Quarto only renders what that step wrote, so this step is where the build
breaks. Here each notebook goes through `nbdev.serve_drv.main` as `proc_nbs` would send it, in its own process, from
the project's folder (where `nbdev_docs` runs), with an empty home folder and no network.
"""
import os, subprocess, sys, tempfile
from pathlib import Path
import pytest
from conftest import ROOT

NBS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('.'))

PROCESS = '''
import sys
from pathlib import Path
from nbdev.processors import FilterDefaults
import nbdev.serve_drv
nbdev.serve_drv.main((Path(sys.argv[1]), Path(sys.argv[2]), FilterDefaults))
'''

def docs_env(home:Path) -> dict:
    "This environment with `home` as HOME, no MNIST37_DATA (the embedded default), and any download failing at once."
    drop = ('MNIST37_DATA', 'MNIST37_CACHE', 'FASTAI_HOME', 'XDG_CACHE_HOME', 'NO_PROXY', 'no_proxy', 'MPLCONFIGDIR', 'IN_TEST')
    env = {k: v for k, v in os.environ.items() if k not in drop}
    dead = 'http://127.0.0.1:9'  # discard port on loopback: nothing listens
    env.update(HOME=str(home), HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead,
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    return env

@pytest.fixture(scope='module')
def home(tmp_path_factory): return tmp_path_factory.mktemp('docs-home')  # one cache for every notebook here

@pytest.mark.parametrize('nb', NBS)
def test_nbdev_docs_processing_succeeds(nb, home, tmp_path):
    dest = tmp_path/nb
    r = subprocess.run([sys.executable, '-c', PROCESS, str(ROOT/'nbs'/nb), str(dest)], cwd=ROOT, env=docs_env(home),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'nbdev could not process {nb} for the docs:\n{r.stderr[-3000:]}'
    assert dest.is_file() and dest.stat().st_size > 0
