"""Shared helpers: run the real `mnist37` console script, in an environment that has no network and no data."""
import os, subprocess, sys
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

def mnist37(*args, env, timeout=600, cwd=None, check_traceback=True):
    "Run the installed `mnist37` command; assert it printed no Python traceback."
    r = subprocess.run([str(BIN/'mnist37'), *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
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
