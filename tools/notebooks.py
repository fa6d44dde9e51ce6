"""Run the notebooks in a real Jupyter kernel, as a new user would, and render them as HTML pages.

    python tools/notebooks.py run [NB ...]     execute in place (all cells, `notest` ones too) on MNIST_SAMPLE, then
                                             nbdev_clean: this is how the committed outputs are made
    python tools/notebooks.py reference [NB ...]
                                             execute on the embedded default and write the text outputs that the tests
                                             compare with into tests/reference/embedded/
    python tools/notebooks.py learner [--embedded] [NB ...]
                                             execute in a learner's numeric setting (LEARNER) on MNIST_SAMPLE (or the
                                             embedded default) and print where the outputs differ from the committed
                                             ones beyond the tolerances the cells state; nothing is written
    python tools/notebooks.py pages OUTDIR     render every notebook in nbs/, as committed, to OUTDIR/NAME.html

Every kind of run uses `kernel_env`: a home folder of its own (so mnist37's cache and fastai's start empty), no
network, and MNIST_SAMPLE from ../shared/data/mnist_sample.tgz (or $MNIST37_DATA) or none at all. The tests use the same
functions on temporary copies.
"""
import os, re, subprocess, sys, tempfile, time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
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
# A cell whose printed numbers depend on the order of floating-point operations says by how much they may move, in a line
# of its source: `# tolerance: 0.006 (why)`. Its output matches the committed one when the words are the same, white space
# aside (a number's width moves a table's padding), and each number is within that much of the committed one.
TOLERANCE = re.compile(r'^\s*#\s*tolerance:\s*([0-9.eE+-]+)', re.M)
# A number: not part of a word or of a longer number (mnist37, x86_64 and 0.97s are words); a sign is part of it.
NUMBER = re.compile(r'(?<![\w.])[-+]?(?>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w)')

def notebooks():
    "Every notebook in nbs/, in reading order."
    return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('.'))

def sample_tgz():
    "MNIST_SAMPLE as a .tgz: `$MNIST37_DATA` if it is one, else ../shared/data/mnist_sample.tgz, else None."
    for p in (os.environ.get('MNIST37_DATA'), ROOT.parent/'shared'/'data'/'mnist_sample.tgz'):
        if p and Path(p).is_file() and str(p).endswith('.tgz'): return Path(p).resolve()
    return None

# How the committed outputs are made: one code path for the arithmetic (Intel MKL's "conditional numerical
# reproducibility", PyTorch's plain kernels rather than the processor's AVX2 or AVX-512 ones, one thread), so that two
# runs on one machine print the same, digit for digit. It does not make another processor print the same: the order in
# which a long run adds its floats still differs, and a chaotic run (SGD at lr 100, Adam at lr 0.1) ends elsewhere
# (issue 29: Adam's 0.9868 here was 0.9823 on an Intel Xeon, pinned alike). So a cell whose numbers move states by how
# much (TOLERANCE), and the tests run the numeric notebooks a second time as a learner does (LEARNER).
PINNED = dict(MKL_CBWR='COMPATIBLE', ATEN_CPU_CAPABILITY='default', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
# A learner's Jupyter: the processor's own kernels and MKL's own code path (MKL_CBWR, ATEN_CPU_CAPABILITY unset), and
# two threads. Threads that wait sleep rather than spin (OMP_WAIT_POLICY=PASSIVE: it changes no result), since on a
# machine whose cores are busy with other work, spinning threads made a run 10 to 40 times slower here.
LEARNER = dict(OMP_NUM_THREADS='2', MKL_NUM_THREADS='2', OMP_WAIT_POLICY='PASSIVE')

def kernel_env(home:Path, # the kernel's home folder (so mnist37's and fastai's caches start empty)
               data:Path=None, # MNIST37_DATA, or None: the search order's fallback, the embedded default
               numeric:dict=PINNED, # the numeric setting: PINNED (how the committed outputs are made) or LEARNER
              ) -> dict:
    "This environment with `home` as HOME, no mnist37/fastai overrides, no network, `data` as MNIST37_DATA, `numeric`."
    drop = ('MNIST37_DATA', 'MNIST37_CACHE', 'FASTAI_HOME', 'XDG_CACHE_HOME', 'NO_PROXY', 'no_proxy', 'MPLCONFIGDIR',
            *PINNED, *LEARNER)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    dead = 'http://127.0.0.1:9'  # discard port on loopback: nothing listens, so any download fails at once
    env.update(HOME=str(home), HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead, **numeric)
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

def committed_outputs(nb:Path, # a notebook in nbs/
                      embedded:bool=False, # the embedded default's outputs (tests/reference/embedded/), not MNIST_SAMPLE's
                     ) -> dict:
    "`{cell number: text}` as committed: in the notebook itself for MNIST_SAMPLE, in REFERENCE for the embedded default."
    if not embedded: return read_reference(reference_text(text_outputs(nb)))
    return read_reference((REFERENCE/f'{nb.stem}.txt').read_text())

def read_reference(text:str) -> dict:
    "`{cell number: text}` back from `reference_text`."
    parts = re.split(r'(?m)^### cell (\d+)\n', text)
    return {int(i): t.rstrip() for i, t in zip(parts[1::2], parts[2::2])}

def tolerances(nb_path:Path) -> dict:
    "`{cell number: tolerance}` for the code cells of `nb_path` that state one (`# tolerance: X`)."
    found = {}
    for i, c in enumerate(nbformat.read(nb_path, as_version=4).cells):
        if c.cell_type != 'code' or not (m := TOLERANCE.search(c.source)): continue
        try: found[i] = float(m.group(1))
        except ValueError: raise ValueError(f'{nb_path.name} cell {i}: "# tolerance: {m.group(1)}" is not a number') from None
    return found

def _first_difference(got:str, expected:str) -> str:
    "Where two texts part: a little of each from the first character that differs."
    i = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    start = max(0, i - 30)
    return f'expected {expected[start:i + 40]!r}, got {got[start:i + 40]!r}'

def compare_text(got:str, # what a cell printed in this run
                 expected:str, # what it printed in the committed run
                 tolerance:float=None, # None: the texts must be equal; else how far each number may move
                ) -> str:
    "'' if `got` matches `expected`, else the first difference: the words, the count of numbers, or a number pair."
    if tolerance is None: return '' if got == expected else _first_difference(got, expected)
    numbers = [NUMBER.findall(t) for t in (got, expected)]
    words = [' '.join(NUMBER.sub('<number>', t).split()) for t in (got, expected)]  # white space runs folded
    if len(numbers[0]) != len(numbers[1]):
        return f'{len(numbers[0])} numbers where {len(numbers[1])} were committed: ' + _first_difference(*words)
    if words[0] != words[1]: return 'the words differ (numbers aside): ' + _first_difference(*words)
    for k, (a, b) in enumerate(zip(*numbers)):  # decimals, as printed: 0.9858 - 0.9848 is 0.001, not 0.0010000000000000009
        if abs(Decimal(a) - Decimal(b)) > Decimal(str(tolerance)):
            return f'number {k + 1} is {a} where {b} was committed: {abs(Decimal(a) - Decimal(b))} apart, tolerance {tolerance:g}'
    return ''

def compare_outputs(got:dict, # `{cell number: text}` of this run
                    expected:dict, # `{cell number: text}` committed
                    tolerance:dict=None, # `{cell number: tolerance}`, from `tolerances`
                   ) -> list:
    "One line per cell whose output does not match the committed one: `cell N: what differs`."
    found = []
    for i in sorted(got.keys() | expected.keys()):
        if i not in got: found.append(f'cell {i}: printed nothing; the committed run printed {expected[i][:60]!r}')
        elif i not in expected: found.append(f'cell {i}: printed {got[i][:60]!r}; the committed run printed nothing')
        elif msg := compare_text(got[i].rstrip(), expected[i].rstrip(), (tolerance or {}).get(i)): found.append(f'cell {i}: {msg}')
    return found

def render_html(src:Path, dest:Path) -> Path:
    "The notebook `src` as one self-contained HTML page at `dest`, figures embedded, links to notebooks made page links."
    nb = nbformat.read(src, as_version=4)
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb, resources={'metadata': {'path': str(src.parent)}})
    body = re.sub(r'href="([\w.-]+)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
    dest.write_text(body, encoding='utf-8')
    return dest

def _run(nbs, data, write, numeric=PINNED):
    with tempfile.TemporaryDirectory() as home:
        for nb in nbs:
            with tempfile.TemporaryDirectory() as d:
                out = Path(d)/nb.name
                seconds = execute(nb, out, kernel_env(Path(home), data, numeric))
                write(nb, out)
            print(f'{nb.name}: {seconds:.1f}s', flush=True)

def _differences(nb, out, embedded):
    "Print where the run `out` of `nb` differs from the committed outputs, beyond their tolerances."
    for line in compare_outputs(text_outputs(out), committed_outputs(nb, embedded), tolerances(nb)) or ['as committed']:
        print(f'{nb.name}: {line}')

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
    elif cmd == 'learner':
        embedded = '--embedded' in args or sample_tgz() is None
        for nb in [Path(a).resolve() for a in args if a != '--embedded'] or notebooks():
            try: _run([nb], None if embedded else sample_tgz(), lambda nb, out: _differences(nb, out, embedded), LEARNER)
            except CellExecutionError as e: print(f'{nb.name}: a cell raised {e.ename}: {e.evalue}\n{str(e).split("-" * 18)[1]}')
    elif cmd == 'pages' and args:
        out = Path(args[0]); out.mkdir(parents=True, exist_ok=True)
        for nb in notebooks(): print(render_html(nb, out/f'{nb.stem}.html'))
    else: sys.exit(__doc__)
