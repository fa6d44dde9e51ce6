"""Saving a run into any folder a user has (issue 32). The --out folder itself stays what it is (a mount point, a folder
with a bind mount in it, a shell's current folder); the new run is staged inside it, on its disk; and after a kill -9
at any moment it holds the earlier run, or, killed between the renames of the new run's files, a mix that `predict`
refuses in one line until the next run into it. The mounts are real tmpfs and bind mounts (skipped where this process
may not mount).
"""
import os, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import mnist37, BIN
from test_errors import fails, start_slow_save, ctrl_c_as_at_a_terminal
from test_faults import mount, sample, snapshot, partials, remount_ro, train  # noqa: F401 (fixtures)

RUN_SET = {'net': ['accuracy.png', 'metrics.csv', 'model.pt', 'units.png'],
           'linear': ['accuracy.png', 'metrics.csv', 'model.pt', 'weights.png']}

def out_in(layout, tmp_path, mount):
    "An --out folder in `layout`: a plain folder, one holding a folder of the user's, a symlink, a mount point, or one on a read-only disk's mount point."
    out = tmp_path/'run'
    if layout == 'plain': return out
    if layout == 'a folder inside':
        (out/'drawings').mkdir(parents=True); (out/'drawings'/'drawing-0001.png').write_bytes(b'mine')
        return out
    if layout == 'symlink':
        (tmp_path/'real').mkdir(); out.symlink_to(tmp_path/'real')
        return out
    if layout == 'mount point': return mount(out, '20m')
    parent = mount(tmp_path/'parent', '1m')  # 'read-only parent': the run's own disk mounted in a read-only one
    out = mount(parent/'run', '20m')
    remount_ro(parent)
    return out

SLOW_RENAME = """
import os, sys, time, pathlib
import mnist37.cli as cli
out, marker, real_replace = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]), os.replace
def slow_replace(a, b, *args, **kwargs):
    real_replace(a, b, *args, **kwargs)
    if pathlib.Path(b).parent.resolve() == out:  # the first file of the new run renamed into --out: killed here
        marker.write_text('renamed')
        time.sleep(120)
os.replace = slow_replace
sys.exit(cli.main(sys.argv[3:], own_process=True))
"""

def kill_between_renames(env, sample, out, marker):
    "`mnist37 train` into `out`, killed with kill -9 right after the first of its files is renamed into `out`."
    args = [sys.executable, '-c', SLOW_RENAME, out, marker, 'train', '--data', sample, '--epochs', '2', '--bs', '4',
            '--seed', '5', '--out', out]
    p = subprocess.Popen(list(map(str, args)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):
        if marker.exists() or p.poll() is not None: break
        time.sleep(0.1)
    assert marker.exists(), p.communicate()
    p.kill(); p.wait()

@pytest.mark.parametrize('layout', ['plain', 'a folder inside', 'symlink', 'mount point', 'read-only parent'])
def test_a_kill_9_leaves_the_earlier_run_or_a_mix_predict_refuses(env, sample, tmp_path, mount, layout):
    out = out_in(layout, tmp_path, mount)
    img = sample/'valid'/'3'/'0.png'
    assert train(sample, env, out, '--model', 'net').returncode == 0
    earlier = snapshot(out)
    assert sorted(earlier) == RUN_SET['net']
    p = start_slow_save(env, sample, out, tmp_path/'staging', 60)  # killed while the new run is written
    p.kill(); p.wait()
    assert snapshot(out) == earlier  # units.png and all
    assert mnist37('predict', out, img, env=env).returncode == 0
    kill_between_renames(env, sample, out, tmp_path/'renamed')
    now = snapshot(out)
    assert [n for n in now if now[n] != earlier.get(n)] == ['metrics.csv']  # the new run's, beside the earlier checkpoint
    r = mnist37('predict', out, img, env=env)
    fails(r, 1, f'{out} holds files of two runs: metrics.csv was not saved with its model.pt', 'train into it again',
          f"give {out/'model.pt'} to use that model alone")
    assert mnist37('predict', out/'model.pt', img, env=env).returncode == 0
    assert train(sample, env, out).returncode == 0  # the next run makes it whole
    assert sorted(snapshot(out)) == RUN_SET['linear'] and mnist37('predict', out, img, env=env).returncode == 0
    assert partials(out) == []
    if layout == 'a folder inside': assert (out/'drawings'/'drawing-0001.png').read_bytes() == b'mine'
    if layout == 'symlink': assert out.is_symlink() and sorted(snapshot(tmp_path/'real')) == RUN_SET['linear']
    if layout in ('mount point', 'read-only parent'): assert os.path.ismount(out)

def test_a_bind_mount_in_out_and_a_shell_in_it_are_kept(env, sample, tmp_path):
    out, data = tmp_path/'run', tmp_path/'elsewhere'
    (out/'volume').mkdir(parents=True); data.mkdir(); (data/'kept.txt').write_text('on the mounted folder')
    r = subprocess.run(['mount', '--bind', str(data), str(out/'volume')], capture_output=True, text=True)
    if r.returncode != 0: pytest.skip(f'cannot bind-mount here: {r.stderr.strip()}')
    shell = subprocess.Popen(['sleep', '300'], cwd=out)
    try:
        inode = out.stat().st_ino
        for seed in ('1', '2'):
            r = train(sample, env, out, '--seed', seed)
            assert r.returncode == 0, r.stderr
        assert out.stat().st_ino == inode and os.path.samestat((out/'volume').stat(), data.stat())  # still the mount
        assert (out/'volume'/'kept.txt').read_text() == 'on the mounted folder'
        assert os.readlink(f'/proc/{shell.pid}/cwd') == str(out)  # not '... (deleted)'
        assert sorted(snapshot(out)) == RUN_SET['linear']
    finally:
        shell.kill(); shell.wait()
        subprocess.run(['umount', '-l', str(out/'volume')], capture_output=True)

def test_ctrl_c_between_renames_finishes_the_save(env, sample, tmp_path):
    "Ctrl-C while the files are renamed in is held back until the last is in place: the folder holds the new run."
    out = tmp_path/'run'
    assert train(sample, env, out).returncode == 0
    args = [sys.executable, '-c', SLOW_RENAME.replace('time.sleep(120)', 'time.sleep(2)'), out, tmp_path/'renamed',
            'train', '--data', sample, '--epochs', '2', '--bs', '4', '--seed', '5', '--out', out]
    p = subprocess.Popen(list(map(str, args)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=ctrl_c_as_at_a_terminal)
    for _ in range(1200):
        if (tmp_path/'renamed').exists() or p.poll() is not None: break
        time.sleep(0.1)
    p.send_signal(subprocess.signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and 'saved completely' in err, err
    assert mnist37('predict', out, sample/'valid'/'3'/'0.png', env=env).returncode == 0

def test_long_names_for_out_and_show(env, sample, tmp_path):
    out = tmp_path/('r'*240)
    r = train(sample, env, out)
    assert r.returncode == 0, r.stderr
    show = tmp_path/('s'*244 + '.png')  # 248 characters
    r = mnist37('predict', out, sample/'valid'/'3'/'0.png', '--show', show, env=env)
    assert r.returncode == 0 and show.is_file(), r.stderr
    fails(mnist37('predict', out, sample/'valid'/'3'/'0.png', '--show', tmp_path/('s'*252 + '.png'), env=env), 1,
          '--show: ', 'its name is 256 bytes long, and file names there have at most 255: choose a shorter name')
    fails(train(sample, env, tmp_path/('r'*256)), 1, '--out: ', 'File name too long', 'choose another folder')
