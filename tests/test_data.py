"""Where the data comes from (issue 2): the offline embedded default, explicit paths and archives, import weight."""
import os, subprocess, sys, tarfile
from pathlib import Path
import pytest, torch
from conftest import mnist37, make_sample, BIN

def py(code, env):
    "Run `code` in a fresh interpreter of this venv; its stdout."
    r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout

def test_offline_builds_embedded_default_once_and_trains_on_it(offline_env, tmp_path):
    code = ("from mnist37.data import find_mnist_sample, load_mnist_sample\n"
            "src = find_mnist_sample()\n"
            "print(src.how); print(src.path); print((src.path/'labels.csv').stat().st_mtime_ns)")
    how, path, mtime = py(code, offline_env).splitlines()
    assert how.startswith('embedded default') and 'fastai could not get MNIST_SAMPLE' in how
    assert Path(path).is_relative_to(tmp_path/'cache')
    assert not any((tmp_path/'fastai').rglob('mnist_sample')), 'fastai downloaded nothing'
    how2, path2, mtime2 = py(code, offline_env).splitlines()
    assert (how2, path2, mtime2) == (how, path, mtime), 'the second call reuses the built folder'
    r = mnist37('train', '--out', tmp_path/'run', env=offline_env)
    assert r.returncode == 0, r.stderr
    assert 'embedded default' in r.stdout and '800 train / 200 valid images' in r.stdout
    assert float(r.stdout.strip().splitlines()[-1].split(': ')[1]) >= 0.85

def test_explicit_folder_and_tgz(tmp_path):
    sample = make_sample(tmp_path/'src'/'mnist_sample')
    from mnist37.data import find_mnist_sample, load_mnist_sample
    src = find_mnist_sample(sample, cache_dir=tmp_path/'cache')
    assert (src.path, src.how) == (sample, 'folder mnist_sample (given as path)')
    tgz = tmp_path/'sample.tgz'
    with tarfile.open(tgz, 'w:gz') as tf: tf.add(sample, arcname='mnist_sample')
    src2 = find_mnist_sample(tgz, cache_dir=tmp_path/'cache')
    assert src2.how == 'archive sample.tgz (given as path)' and src2.path.is_relative_to(tmp_path/'cache')
    a, b = load_mnist_sample(src.path, cache_dir=False), load_mnist_sample(src2.path, cache_dir=False)
    for x, y in zip(a, b): assert torch.equal(x, y)
    assert [t.shape for t in a] == [(12, 784), (12, 1), (12, 784), (12, 1)]
    assert a[1].flatten().tolist() == [1]*6 + [0]*6

def test_mnist37_data_env_comes_after_the_argument(tmp_path, monkeypatch):
    from mnist37.data import find_mnist_sample
    a, b = make_sample(tmp_path/'a'), make_sample(tmp_path/'b')
    monkeypatch.setenv('MNIST37_DATA', str(a))
    assert find_mnist_sample(cache_dir=tmp_path/'c') == (a, 'folder a (from MNIST37_DATA)')
    assert find_mnist_sample(b, cache_dir=tmp_path/'c').path == b

def test_real_sample_numbers(real_tgz, tmp_path):
    from mnist37.data import find_mnist_sample, load_mnist_sample
    src = find_mnist_sample(real_tgz, cache_dir=tmp_path)
    tx, ty, vx, vy = load_mnist_sample(src.path, cache_dir=tmp_path)
    assert (len(tx), int(ty.sum()), len(vx), int(vy.sum())) == (6131 + 6265, 6131, 1010 + 1028, 1010)

def test_import_leaves_out_torchvision_fastai_vision_fastbook_matplotlib(offline_env):
    out = py("import sys, mnist37, mnist37.data, mnist37.model, mnist37.train, mnist37.checks, mnist37.cli, mnist37.sources, "
             "mnist37.baseline, mnist37.optim, mnist37.nets, mnist37.exercises, mnist37.all\n"
             "print([m for m in ('torchvision', 'fastai.vision', 'fastbook', 'matplotlib') if m in sys.modules])",
             offline_env)
    assert out.strip() == '[]'

def test_every_function_imports_from_its_module(offline_env):
    py("from mnist37.model import init_params, linear1, mnist_loss\n"
       "from mnist37.train import calc_grad, train_epoch, batch_accuracy, validate_epoch, fit, TensorBatches\n"
       "from mnist37.data import find_mnist_sample, load_mnist_sample, fastai_dls\n"
       "from mnist37.baseline import mnist_distance, is_3, mean_digits, pixel_similarity\n"
       "from mnist37.optim import BasicOptim, train_epoch_opt, fit_opt\n"
       "from mnist37.nets import simple_net, init_simple_net, torch_simple_net\n"
       "from mnist37.behaviour import NotYet\n"
       "from mnist37.exercises import CHECKERS, try_it, check_file\n"
       "from mnist37.all import *; assert fit and find_mnist_sample", offline_env)
