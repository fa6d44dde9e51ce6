"""Faults of the machine (issue 22): a full disk, two runs at once, a read-only cache, a kill -9, tampered cache files,
odd bytes in names, absurd seeds, sideways photos. Each case: one line, no traceback, one complete run or the old one.

The full and read-only disks are real: small tmpfs mounts (skipped where this process may not mount one).
"""
import errno, os, shutil, signal, stat, subprocess, sys, tarfile, time
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from conftest import mnist37, make_sample, BIN, LAYOUT
from test_errors import fails, start_slow_save

def train(data, env, out, *args, **kw):
    return mnist37('train', '--data', data, '--epochs', '2', '--bs', '4', '--out', out, *args, env=env, **kw)

def snapshot(folder):
    "The files in `folder` (not its folders) by name: their bytes."
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}

def partials(*folders): return [p for f in folders for p in Path(f).rglob('*') if p.name.endswith('.partial')]

@pytest.fixture
def sample(tmp_path): return make_sample(tmp_path/'sample')

@pytest.fixture
def mount(tmp_path):
    "`mount(dir, size, ro=False)`: a tmpfs of `size` at `dir`, unmounted at the end; skips where mounting is not allowed."
    done = []
    def make(where, size='200k', ro=False):
        where.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}' + (',ro' if ro else ''), 'tmpfs', str(where)],
                           capture_output=True, text=True)
        if r.returncode != 0: pytest.skip(f'cannot mount a tmpfs here: {r.stderr.strip()}')
        done.append(where)
        return where
    yield make
    for where in reversed(done): subprocess.run(['umount', '-l', str(where)], capture_output=True)

def remount_ro(where): subprocess.run(['mount', '-o', 'remount,ro', str(where)], check=True)

def fill(where, leave:int):
    "Fill the disk at `where` until `leave` bytes are free."
    free = shutil.disk_usage(where).free - leave
    if free > 0: (where/'ballast').write_bytes(bytes(free))

# 1, 8, 9: a run folder holds one run
def test_full_disk_while_saving_keeps_the_earlier_run(env, sample, tmp_path, mount):
    disk = mount(tmp_path/'f', '400k')
    assert train(sample, env, disk/'run').returncode == 0
    before = snapshot(disk/'run')
    fill(disk, 40_000)  # room for a few files of a new run, not all of them
    r = train(sample, env, disk/'run', '--seed', '7', '--epochs', '3')
    fails(r, 1, f"--out: cannot write {disk/'run'}: the disk at {disk} is full", 'choose another folder')
    assert snapshot(disk/'run') == before and partials(disk) == []

def test_full_disk_on_a_new_out_folder_removes_it(env, sample, tmp_path, mount):
    disk = mount(tmp_path/'f', '200k')
    fill(disk, 20_000)
    fails(train(sample, env, disk/'new'), 1, 'is full')
    assert sorted(p.name for p in disk.iterdir()) == ['ballast']

def test_run_files_get_ordinary_permissions(env, sample, tmp_path):
    for mask, mode in [(0o022, 0o644), (0o027, 0o640)]:
        out = tmp_path/f'run{mask:o}'
        r = subprocess.run(
            [str(BIN/'mnist37'), 'train', '--data', str(sample), '--epochs', '1', '--bs', '4', '--out', str(out)],
            env=env, capture_output=True, text=True, preexec_fn=lambda: os.umask(mask))
        assert r.returncode == 0, r.stderr
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
        assert set(modes.values()) == {mode}, modes

def test_a_new_run_replaces_the_whole_set_and_keeps_other_files(env, sample, tmp_path):
    out = tmp_path/'run'
    out.mkdir()
    (out/'confusion.png').write_bytes(b'an earlier ten-digit run')  # not part of a 3-vs-7 run: must go
    (out/'.notes.partial').write_text('my notes'); (out/'.x.partial').mkdir(); (out/'.x.partial'/'keep').write_text('k')
    assert train(sample, env, out).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ['.notes.partial', '.x.partial', 'accuracy.png', 'metrics.csv',
                                                     'model.pt', 'weights.png']
    assert (out/'.notes.partial').read_text() == 'my notes' and (out/'.x.partial'/'keep').read_text() == 'k'

def consistent(out):
    "The checkpoint and metrics.csv in `out` come from the same run."
    ck = torch.load(out/'model.pt', weights_only=True)
    rows = (out/'metrics.csv').read_text().splitlines()[1:]
    return [round(float(r.split(',')[2]), 4) for r in rows] == [round(v, 4) for v in ck['meta']['valid_acc']] and \
           [f"{float(r.split(',')[1]):.6f}" for r in rows] == [f'{v:.6f}' for v in ck['meta']['train_loss']]

def test_two_runs_into_one_out_end_with_one_complete_run(env, sample, tmp_path):
    out = tmp_path/'run'
    out.mkdir(); (out/'.notes.partial').write_text('mine'); (out/'.x.partial').mkdir()
    for _ in range(3):
        ps = [subprocess.Popen([str(BIN/'mnist37'), 'train', '--data', str(sample), '--epochs', str(e), '--bs', '4',
                                '--seed', str(s), '--out', str(out)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for s, e in [(1, 2), (2, 3)]]
        for p in ps:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0 and err == '', err
        assert consistent(out)
        assert (out/'.notes.partial').read_text() == 'mine' and (out/'.x.partial').is_dir()
        assert sorted(partials(tmp_path)) == [out/'.notes.partial', out/'.x.partial']

SAVER = """
import sys, time
from pathlib import Path
from mnist37.file_sets import replace_set
out, tag = Path(sys.argv[1]), sys.argv[2]
def write(folder):
    for n in ('a.csv', 'b.png', 'model.pt'): (folder/n).write_text(f'{tag} {i}')
for i in range(25): replace_set(out, write, ['a.csv', 'b.png', 'model.pt'])
"""

def test_two_processes_saving_in_a_loop_never_fail(tmp_path):
    out = tmp_path/'run'; out.mkdir()
    env = {**os.environ, 'PYTHONPATH': str(Path(__file__).resolve().parents[1])}
    ps = [subprocess.Popen([sys.executable, '-c', SAVER, str(out), tag], env=env, stderr=subprocess.PIPE, text=True)
          for tag in 'AB']
    errs = [p.communicate(timeout=120)[1] for p in ps]
    assert [p.returncode for p in ps] == [0, 0], errs
    assert len({(out/n).read_text() for n in ('a.csv', 'b.png', 'model.pt')}) == 1  # one set, whichever was last
    assert partials(tmp_path) == []

# 4: kill -9 leaves nothing forever
def test_kill_9_while_saving_leaves_nothing_after_the_next_run(env, sample, tmp_path):
    run = tmp_path/'run'
    assert train(sample, env, run).returncode == 0
    old = snapshot(run)
    p = start_slow_save(env, sample, run, tmp_path/'saving', 30)
    p.kill(); p.wait()
    assert snapshot(run) == old
    assert [p.name.startswith('.set.mnist37-') for p in run.iterdir() if p.name.endswith('.partial')] == [True]  # its staging folder, inside the run's
    assert train(sample, env, run).returncode == 0
    assert partials(tmp_path) == []

def dead_pid():
    return int(subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                              text=True).stdout)

def test_stale_cache_temporaries_are_removed_by_the_next_run(offline_env, sample, tmp_path):
    cache, pid = Path(offline_env['MNIST37_CACHE']), dead_pid()
    left = [cache/'extracted'/f'.mnist_sample-0a1b.mnist37-{pid}-k2j4.partial',
            cache/'embedded'/f'.mnist.mnist37-{pid}-k2j4.partial',
            cache/'tensors'/f'.0123456789abcdef.npz.mnist37-{pid}-k2j4.partial']
    for p in left[:2]: p.mkdir(parents=True); (p/'0.png').write_bytes(b'x')
    left[2].parent.mkdir(parents=True); left[2].write_bytes(b'half a cache file')
    live = cache/'extracted'/f'.other.mnist37-{os.getpid()}-k2j4.partial'; live.mkdir()  # a live process's
    mine = cache/'tensors'/'.notes.partial'; mine.write_text('not mnist37s')
    assert train(sample, offline_env, tmp_path/'run').returncode == 0
    assert [p.exists() for p in left] == [False]*3 and live.exists() and mine.exists()

# 3: the cache never stops a run
def tgz_of(sample, path):
    with tarfile.open(path, 'w:gz') as tf: tf.add(sample, arcname='mnist_sample')
    return path

def test_full_cache_disk_extracts_to_a_temporary_folder_and_trains(offline_env, sample, tmp_path, mount):
    cache = mount(tmp_path/'cache', '64k')
    r = train(tgz_of(sample, tmp_path/'s.tgz'), {**offline_env, 'MNIST37_CACHE': str(cache)}, tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert 'the cache cannot be written (the disk at' in r.stdout.splitlines()[0] and 'is full' in r.stdout.splitlines()[0]
    assert '12 train / 12 valid images' in r.stdout and partials(cache) == []

def test_read_only_cache_with_extraction_present_trains(offline_env, sample, tmp_path, mount):
    cache = mount(tmp_path/'cache', '2m')
    env = {**offline_env, 'MNIST37_CACHE': str(cache)}
    tgz = tgz_of(sample, tmp_path/'s.tgz')
    assert train(tgz, env, tmp_path/'run').returncode == 0
    shutil.rmtree(cache/'tensors')  # the extraction present, no tensor file
    remount_ro(cache)
    r = train(tgz, env, tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith('tensor cache: cannot write $MNIST37_CACHE/tensors') and len(r.stderr.splitlines()) == 1

def test_read_only_home_builds_the_embedded_default_in_a_temporary_folder(offline_env, tmp_path, mount):
    home = mount(tmp_path/'home', '64k', ro=True)
    env = {k: v for k, v in offline_env.items() if k not in ('MNIST37_CACHE', 'XDG_CACHE_HOME')}
    r = mnist37('train', '--epochs', '1', '--out', tmp_path/'run', env={**env, 'HOME': str(home)})
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith('data: embedded default') and 'is read-only), so a temporary copy is used' in first, first
    assert 'tensor cache: cannot write' in r.stderr

def test_extraction_out_of_space_names_the_disk(offline_env, sample, tmp_path, mount):
    cache, tmp = mount(tmp_path/'cache', '64k'), mount(tmp_path/'tmp', '64k')
    r = train(tgz_of(sample, tmp_path/'s.tgz'), {**offline_env, 'MNIST37_CACHE': str(cache), 'TMPDIR': str(tmp)},
              tmp_path/'run')
    fails(r, 1, f'the disk at {tmp} is full', 'free some space there')
    assert 'download it again' not in r.stderr and partials(cache, tmp) == []

# 5: a tampered cache file is rebuilt
def valid_acc(r): return [l.split()[2] for l in r.stdout.splitlines() if l.split()[:1] in (['1'], ['2'])]

@pytest.mark.parametrize('how', ['swapped', 'empty', 'fewer'])
def test_tensor_cache_with_its_key_kept_and_arrays_replaced_is_rebuilt(offline_env, sample, tmp_path, how):
    first = train(sample, offline_env, tmp_path/'run')
    cache, = (Path(offline_env['MNIST37_CACHE'])/'tensors').glob('*.npz')
    z = dict(np.load(cache))
    z.update({'swapped': {'train/3': z['train/7'], 'train/7': z['train/3']},
              'empty': {d: np.zeros((0, 28, 28), np.uint8) for d in LAYOUT},
              'fewer': {'train/3': z['train/3'][:2]}}[how])
    np.savez(cache, **z)
    again = train(sample, offline_env, tmp_path/'run')
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]  # data: ... 12 train / 12 valid images
    assert valid_acc(again) == valid_acc(first)  # the same seed on the same images: the same accuracies

# 6: bytes that are not UTF-8 in names
def test_non_utf8_folder_and_image_names_train(env, sample, tmp_path):
    odd = Path(os.fsdecode(bytes(tmp_path) + b'/d\xffta'))
    shutil.copytree(sample, odd)
    shutil.copy(sample/'valid'/'7'/'0.png', os.fsdecode(bytes(odd/'valid'/'7') + b'/\xff.png'))
    r = train(odd, env, tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert '12 train / 13 valid images' in r.stdout

# 7: seeds past torch's range
def test_seed_past_torchs_range_is_a_usage_error(env, sample, tmp_path):
    fails(train(sample, env, tmp_path/'run', '--seed', str(2**64)), 2, 'seed 18446744073709551616 is more than')
    assert not (tmp_path/'run').exists()
    assert train(sample, env, tmp_path/'run', '--seed', str(2**64 - 1)).returncode == 0

# 10: EXIF orientation
def test_sideways_photo_is_classified_upright(env, sample, tmp_path):
    assert train(sample, env, tmp_path/'run').returncode == 0
    up = np.asarray(Image.open(sample/'valid'/'3'/'0.png').resize((56, 56)))
    Image.fromarray(up).save(tmp_path/'up.png')
    exif = Image.Exif(); exif[0x0112] = 6  # stored turned a quarter left: "rotate 90° clockwise to view"
    Image.fromarray(np.rot90(up)).save(tmp_path/'side.png', exif=exif)
    r = mnist37('predict', '--json', tmp_path/'run', tmp_path/'up.png', tmp_path/'side.png', env=env)
    assert r.returncode == 0, r.stderr
    import json
    a, b = json.loads(r.stdout)
    assert (a['digit'], a['p']) == (b['digit'], b['p']), (a, b)

# 6, for predict: a picture whose name has a byte that is not UTF-8, in the lines, the JSON and the --show figure
def test_predict_and_show_a_picture_with_a_non_utf8_name(env, sample, tmp_path):
    assert train(sample, env, tmp_path/'run').returncode == 0
    odd = os.fsdecode(bytes(tmp_path) + b'/\xff.png')
    shutil.copy(sample/'valid'/'3'/'0.png', odd)
    r = mnist37('predict', tmp_path/'run', odd, '--show', tmp_path/'seen.png', env=env)
    assert r.returncode == 0 and '\\xff.png: ' in r.stdout and (tmp_path/'seen.png').is_file(), r.stderr
    r = mnist37('predict', '--json', tmp_path/'run', odd, env=env)
    assert r.returncode == 0 and '\\\\xff.png' in r.stdout, (r.stdout, r.stderr)

# 11: --show on many pictures draws at most MAX_SHOWN of them, and says so
def test_show_on_many_pictures_draws_the_first_48(env, sample, tmp_path):
    assert train(sample, env, tmp_path/'run').returncode == 0
    pics = [sample/'valid'/d/f'{i}.png' for d in ('3', '7') for i in range(6)] * 5  # 60 pictures
    r = mnist37('predict', tmp_path/'run', *pics, '--show', tmp_path/'seen.png', env=env)
    assert r.returncode == 0, r.stderr
    assert f'saved {tmp_path/"seen.png"}: the first 48 of 60 images next to the 28x28 the model saw' in r.stdout
    assert Image.open(tmp_path/'seen.png').height < 48*200  # one row of a picture and what the model saw is < 200 px

# 12: a run that learned nothing says so after its table
@pytest.mark.parametrize('lr,said', [('1e-320', 'no parameter moved from its start'), ('1e6', 'try another learning rate')])
def test_a_run_that_learned_nothing_says_so(env, sample, tmp_path, lr, said):
    r = mnist37('train', '--data', sample, '--epochs', '4', '--bs', '4', '--lr', lr, '--out', tmp_path/'run', env=env)
    assert r.returncode == 0 and said in r.stdout.splitlines()[-1], r.stdout
    assert r.stdout.splitlines()[-1].startswith('--lr: '), r.stdout  # the flag to change
    assert 'another' not in train(sample, env, tmp_path/'good', '--lr', '0.1').stdout  # a run that learned says nothing
