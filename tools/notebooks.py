"""Run the notebooks in a real Jupyter kernel, and render them as HTML pages.

    python tools/notebooks.py run [NB ...]      execute in place (all cells, `notest` ones too), then nbdev_clean:
                                              this is how the committed outputs are made; set MNIST37_DATA to
                                              MNIST_SAMPLE first so the figures come from the real data
    python tools/notebooks.py pages OUTDIR     render every notebook in nbs/, as committed, to OUTDIR/NAME.html

The test suite uses the same two functions on temporary copies.
"""
import subprocess, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'

def notebooks():
    "Every notebook in nbs/, in reading order."
    return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('.'))

def execute(src:Path, dest:Path, timeout:int=600) -> float:
    "Run every cell of notebook `src` top to bottom in a new python3 kernel started in src's folder; save to `dest`."
    nb = nbformat.read(src, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(src.parent)}}).execute()
    nbformat.write(nb, dest)
    return time.perf_counter() - start

def render_html(src:Path, dest:Path) -> Path:
    "The notebook `src` as one self-contained HTML page at `dest`: figures and linked images embedded."
    nb = nbformat.read(src, as_version=4)
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb, resources={'metadata': {'path': str(src.parent)}})
    dest.write_text(body, encoding='utf-8')
    return dest

if __name__ == '__main__':
    cmd, args = (sys.argv[1:2] or ['help'])[0], sys.argv[2:]
    if cmd == 'run':
        for nb in [Path(a) for a in args] or notebooks():
            print(f'{nb.name}: {execute(nb, nb):.1f}s', flush=True)
        subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=ROOT, check=True)
    elif cmd == 'pages' and args:
        out = Path(args[0]); out.mkdir(parents=True, exist_ok=True)
        for nb in notebooks(): print(render_html(nb, out/f'{nb.stem}.html'))
    else: sys.exit(__doc__)
