"""Run the notebooks in a real Jupyter kernel, as a new user would, and render them as HTML pages.

    python tools/notebooks.py run [NB ...]     execute in place (all cells, `notest` ones too) on MNIST_SAMPLE, then
                                             nbdev_clean: this is how the committed outputs are made
    python tools/notebooks.py reference [NB ...]
                                             execute on the embedded default and write the text outputs that the tests
                                             compare with into tests/reference/embedded/
    python tools/notebooks.py pages OUTDIR     render every notebook in nbs/, as committed, to OUTDIR/NAME.html

Both kinds of run use `kernel_env`: a home folder of their own (so mnist37's cache and fastai's start empty), no
network, and MNIST_SAMPLE from ../shared/data/mnist_sample.tgz (or $MNIST37_DATA) or none at all. The tests use the same
functions on temporary copies.
"""
import os, re, subprocess, sys, tempfile, time
from contextlib import contextmanager
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
REFERENCE = ROOT/'tests'/'reference'/'embedded'
# What may differ between two runs of the same notebook on the same data, and nothing else: the seconds column of
# `mnist37 train`'s table (a row is: epoch, train_loss, valid_acc, seconds), of `mnist37 compare`'s (a row ends
# with: valid_acc, seconds followed by "s"), and the time column of fastai's table of epochs (mm:ss).
# The padding before a timing goes with it, since a slow run's wider number takes some of it.
TIMINGS = [re.compile(r'(?m)^(\s*\d+\s+\d+\.\d+\s+\d+\.\d+)\s+\d+\.\d+$'), re.compile(r'(?m)^(.*\d\.\d{4})\s+\d+\.\d+s$'),
           re.compile(r'(<td>)\d\d:\d\d(?=</td>)')]
ADDRESS = re.compile(r' at 0x[0-9a-f]+')  # an object's address in its repr, which nbdev_clean removes from outputs

def notebooks():
    "Every notebook in nbs/, in reading order."
    return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('.'))

def sample_tgz():
    "MNIST_SAMPLE as a .tgz: `$MNIST37_DATA` if it is one, else ../shared/data/mnist_sample.tgz, else None."
    for p in (os.environ.get('MNIST37_DATA'), ROOT.parent/'shared'/'data'/'mnist_sample.tgz'):
        if p and Path(p).is_file() and str(p).endswith('.tgz'): return Path(p).resolve()
    return None

# The same arithmetic on every processor. A long training run's last digits depend on the order in which the CPU adds
# floats, and that depends on the processor's vector instructions (AVX2, AVX-512), on the maths library's choice of
# code path for it, and on the number of threads: the ten-digit net ended at 0.9352 on one machine and 0.9362 on
# another. These settings pick one code path everywhere (Intel MKL's "conditional numerical reproducibility", PyTorch's
# plain kernels, one thread), so the committed outputs and the test that compares with them agree on any x86 machine.
PINNED = dict(MKL_CBWR='COMPATIBLE', ATEN_CPU_CAPABILITY='default', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

def kernel_env(home:Path, data:Path=None) -> dict:
    "This environment with `home` as HOME (empty caches), no mnist37/fastai overrides, no network, `data` as MNIST37_DATA."
    drop = ('MNIST37_DATA', 'MNIST37_CACHE', 'FASTAI_HOME', 'XDG_CACHE_HOME', 'NO_PROXY', 'no_proxy', 'MPLCONFIGDIR')
    env = {k: v for k, v in os.environ.items() if k not in drop}
    dead = 'http://127.0.0.1:9'  # discard port on loopback: nothing listens, so any download fails at once
    env.update(HOME=str(home), HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead, **PINNED)
    if data: env['MNIST37_DATA'] = str(data)
    return env

@contextmanager
def environ(env:dict):
    "Inside the block, `os.environ` is exactly `env` (a kernel started there inherits it)."
    saved = dict(os.environ)
    os.environ.clear(); os.environ.update(env)
    try: yield
    finally: os.environ.clear(); os.environ.update(saved)

def execute(src:Path, dest:Path, env:dict, timeout:int=600) -> float:
    "Run every cell of notebook `src` top to bottom in a new python3 kernel in src's folder, with `env`; save to `dest`."
    nb = nbformat.read(src, as_version=4)
    start = time.perf_counter()
    with environ(env):
        NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(src.parent)}}).execute()
    nbformat.write(nb, dest)
    return time.perf_counter() - start

def text_outputs(nb_path:Path) -> dict:
    "`{cell number: text}`: what each code cell printed or returned as text, timings masked; figures left out."
    nb = nbformat.read(nb_path, as_version=4)
    out = {}
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        text = ''.join(o.get('text', '') if o.output_type == 'stream' else o.get('data', {}).get('text/plain', '') + '\n'
                       for o in c.outputs)
        text = ADDRESS.sub('', text)
        for pat in TIMINGS: text = pat.sub(r'\1<timing>', text)
        if text: out[i] = text
    return out

def reference_text(outputs:dict) -> str:
    return ''.join(f'### cell {i}\n{t.rstrip()}\n' for i, t in outputs.items())

def render_html(src:Path, dest:Path) -> Path:
    "The notebook `src` as one self-contained HTML page at `dest`, figures embedded, links to notebooks made page links."
    nb = nbformat.read(src, as_version=4)
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb, resources={'metadata': {'path': str(src.parent)}})
    body = re.sub(r'href="([\w.-]+)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
    dest.write_text(body, encoding='utf-8')
    return dest

def _run(nbs, data, write):
    with tempfile.TemporaryDirectory() as home:
        for nb in nbs:
            with tempfile.TemporaryDirectory() as d:
                out = Path(d)/nb.name
                seconds = execute(nb, out, kernel_env(Path(home), data))
                write(nb, out)
            print(f'{nb.name}: {seconds:.1f}s', flush=True)

if __name__ == '__main__':
    cmd, args = (sys.argv[1:2] or ['help'])[0], sys.argv[2:]
    nbs = [Path(a).resolve() for a in args] or notebooks()
    if cmd == 'run':
        if sample_tgz() is None: sys.exit('no MNIST_SAMPLE archive: set MNIST37_DATA to mnist_sample.tgz')
        _run(nbs, sample_tgz(), lambda nb, out: nb.write_bytes(out.read_bytes()))
        subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=ROOT, check=True)
    elif cmd == 'reference':
        REFERENCE.mkdir(parents=True, exist_ok=True)
        _run(nbs, None, lambda nb, out: (REFERENCE/f'{nb.stem}.txt').write_text(reference_text(text_outputs(out))))
    elif cmd == 'pages' and args:
        out = Path(args[0]); out.mkdir(parents=True, exist_ok=True)
        for nb in notebooks(): print(render_html(nb, out/f'{nb.stem}.html'))
    else: sys.exit(__doc__)
