"""Shared helpers: run the real `mnist37` console script, in an environment that has no network and no data."""
import json, os, subprocess, sys, tempfile, threading
# The pytest workers (pyproject: -n 2) share the machine's cores, so each, and every `mnist37` it starts, does its
# arithmetic in one thread. With PyTorch's default (a thread per core) the threads of one worker wait, spinning, for
# the cores the other is using: test_cli and test_your_digit took 71 s that way and 46 s this way.
for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(var, '1')
from pathlib import Path
import numpy as np, pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: mnist37, nbdev_test, jupyter
LAYOUT = ('train/3', 'train/7', 'valid/3', 'valid/7')

sys.path.insert(0, str(ROOT/'tools'))
from notebooks import sample_tgz as real_sample_tgz  # MNIST_SAMPLE's .tgz: $MNIST37_DATA, else ../shared's, else None

@pytest.fixture
def real_tgz():
    p = real_sample_tgz()
    if p is None: pytest.skip('no MNIST_SAMPLE archive here (set MNIST37_DATA to one)')
    return p

def offline(cache, fastai_home):
    "This environment without MNIST37_DATA, with the given mnist37 cache and fastai home, and downloads failing at once."
    env = {k: v for k, v in os.environ.items() if k not in ('MNIST37_DATA', 'NO_PROXY', 'no_proxy')}
    dead = 'http://127.0.0.1:9'  # discard port on loopback: nothing listens, so any download fails at once
    env.update(MNIST37_CACHE=str(cache), FASTAI_HOME=str(fastai_home), HTTP_PROXY=dead, HTTPS_PROXY=dead,
               http_proxy=dead, https_proxy=dead)
    return env

@pytest.fixture
def offline_env(tmp_path):
    "No MNIST37_DATA, an empty fastai home and mnist37 cache, and no downloads."
    return offline(tmp_path/'cache', tmp_path/'fastai')

@pytest.fixture(scope='session')
def shared_cache(tmp_path_factory):
    "One mnist37 cache for the tests that only need some data, so the embedded default is built once."
    return tmp_path_factory.mktemp('shared-cache')

@pytest.fixture
def env(offline_env, shared_cache):
    "Like `offline_env`, with the session's shared cache."
    return {**offline_env, 'MNIST37_CACHE': str(shared_cache)}

from forkserver import RUN_TIME_VARS

class ForkServer:
    "`tests/forkserver.py program`, started on first use in this pytest worker with `env`: runs `program` fast."
    def __init__(self, program:str, env:dict=None, cwd:Path=ROOT):
        self.program, self.env, self.cwd = program, dict(env or os.environ), cwd
        self.lock, self.proc = threading.Lock(), None

    def serves(self, env:dict) -> bool:
        "Whether a run with `env` is the same as a new process's: it changes only variables read at run time."
        changed = {k for k in env.keys() | self.env.keys() if env.get(k) != self.env.get(k)}
        return changed <= {*RUN_TIME_VARS, 'PYTEST_CURRENT_TEST'}  # pytest's name for the running test

    def run(self, args:list, env:dict=None, cwd=None, timeout:float=600) -> subprocess.CompletedProcess:
        "Run `program` with `args` in a child forked from the server; the result as `subprocess.run` gives it."
        cmd = [self.program, *args]
        with self.lock, tempfile.TemporaryDirectory() as d:
            if self.proc is None:
                self.proc = subprocess.Popen([sys.executable, str(ROOT/'tests'/'forkserver.py'), self.program], env=self.env,
                                             cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                assert self.proc.stdout.readline() == b'ready\n', f'tests/forkserver.py {self.program} did not start'
            out, err = Path(d)/'stdout', Path(d)/'stderr'
            req = dict(args=args, env=env or self.env, cwd=str(cwd or self.cwd), stdout=str(out), stderr=str(err),
                       timeout=timeout)
            self.proc.stdin.write(json.dumps(req).encode() + b'\n'); self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line: self.proc = None; raise RuntimeError(f'tests/forkserver.py {self.program} stopped (see its stderr above)')
            answer = json.loads(line)
            if answer.get('timeout'): raise subprocess.TimeoutExpired(cmd, timeout, out.read_bytes(), err.read_bytes())
            return subprocess.CompletedProcess(cmd, answer['returncode'], out.read_text(), err.read_text())

FORK_SERVER = ForkServer('mnist37')

def mnist37(*args, env, timeout=600, cwd=None, check_traceback=True):
    "Run the installed `mnist37` command (forked from `FORK_SERVER` when that is the same); assert no traceback."
    args = list(map(str, args))
    if FORK_SERVER.serves(env): r = FORK_SERVER.run(args, env, cwd or os.getcwd(), timeout)
    else: r = subprocess.run([str(BIN/'mnist37'), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check_traceback: assert 'Traceback' not in r.stderr, r.stderr
    return r

def make_sample(root, n=6, size=(28, 28), mode='L'):
    "A tiny folder in MNIST_SAMPLE layout: threes are a vertical bar, sevens a horizontal one."
    rng = np.random.default_rng(0)
    for d in LAYOUT:
        (root/d).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = rng.integers(0, 40, (28, 28), dtype=np.uint8)
            if d.endswith('3'): a[6:22, 10:16] = 255
            else: a[4:9, 4:24] = 255
            Image.fromarray(a).convert(mode).resize(size).save(root/d/f'{i}.png')
    return root
