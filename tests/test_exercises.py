"""Exercises (issues 12, 20 and 30): `check_file` on a learner's .py file or notebook, its limits, and the stub notebooks."""
import ast, gc, json, os, pty, signal, subprocess, sys, threading, time, warnings
import pytest, torch
from pathlib import Path
from conftest import ROOT, mnist37
from mnist37.checks import Mnist37Error
from mnist37.exercises import CHECKERS, check_file, verdict

RIGHT = '''import torch
def mnist_loss(predictions, targets):
    p = 1/(1 + torch.exp(-predictions))
    return torch.where(targets == 1, 1 - p, p).mean()
def linear1(xb, weights, bias): return torch.matmul(xb, weights) + bias
'''
WRONG = '''
def batch_accuracy(xb, yb): return ((xb > 0.5) == yb).float().mean()
def train_epoch(model, lr, params, dl):
    total, n = 0., 0
    for xb, yb in dl:
        loss = mnist_loss(model(xb), yb)
        loss.backward()
        for p in params: p.data -= p.grad*lr
        total, n = total + loss.item()*len(xb), n + len(xb)
    return total/n
'''
# One right answer per stub of notebook 10, as a learner would write it there.
ANSWERS = {
    'init_params': 'def init_params(size, std=1.0):\n    return (torch.randn(size)*std).requires_grad_()',
    'linear1': 'def linear1(xb, weights, bias):\n    return xb@weights + bias',
    'mnist_loss': 'def mnist_loss(predictions, targets):\n    predictions = predictions.sigmoid()\n'
                  '    return torch.where(targets==1, 1-predictions, predictions).mean()',
    'calc_grad': 'def calc_grad(xb, yb, model):\n    loss = mnist_loss(model(xb), yb)\n    loss.backward()\n    return loss',
    'train_epoch': 'def train_epoch(model, lr, params, dl):\n    total, n = 0., 0\n    for xb, yb in dl:\n'
                   '        loss = calc_grad(xb, yb, model)\n        for p in params:\n            p.data -= p.grad*lr\n'
                   '            p.grad.zero_()\n        total, n = total + loss.item()*len(xb), n + len(xb)\n    return total/n',
    'batch_accuracy': 'def batch_accuracy(xb, yb):\n    return ((xb.sigmoid() > 0.5) == yb).float().mean()',
    'validate_epoch': 'def validate_epoch(model, valid_dl):\n    accs = [batch_accuracy(model(xb), yb) for xb, yb in valid_dl]\n'
                      '    return round(torch.stack(accs).mean().item(), 4)',
    'mnist_distance': 'def mnist_distance(a, b):\n    return (a-b).abs().mean((-1, -2))',
    'BasicOptim': 'class BasicOptim:\n    def __init__(self, params, lr): self.params, self.lr = list(params), lr\n'
                  '    def step(self):\n        for p in self.params: p.data -= p.grad*self.lr\n'
                  '    def zero_grad(self):\n        for p in self.params: p.grad = None',
    'simple_net': 'def simple_net(xb, w1, b1, w2, b2):\n    return (xb@w1 + b1).max(torch.tensor(0.0))@w2 + b2',
}
TEN = ('init_params', 'linear1', 'mnist_loss', 'calc_grad', 'train_epoch', 'batch_accuracy', 'validate_epoch',
       'mnist_distance', 'BasicOptim', 'simple_net')

def copy_of_10(tmp_path, nb_name='10_your_turn.ipynb', **answers):
    "A learner's copy of notebook 10 (or `nb_name`) with the given stubs replaced by answers (outputs and all)."
    nb = json.loads((ROOT/'nbs'/nb_name).read_text())
    for c in nb['cells']:
        src = ''.join(c['source'])
        for name, answer in answers.items():
            if c['cell_type'] == 'code' and ('def ' + name + '(' in src or 'class ' + name + ':' in src):
                c['source'] = answer.splitlines(keepends=True)
    (tmp_path/'mine.ipynb').write_text(json.dumps(nb))
    return tmp_path/'mine.ipynb'

def lines_of(capsys, path, **kw):
    ok = check_file(path, **kw)
    return ok, capsys.readouterr().out.splitlines()

def test_a_copy_of_notebook_10_with_every_answer_passes(tmp_path, capsys):
    ok, lines = lines_of(capsys, copy_of_10(tmp_path, **ANSWERS))
    assert ok and [l.split(':')[0] for l in lines] == [f'✓ {n}' for n in TEN], lines
    assert not any('fix it first' in l for l in lines)

def test_one_wrong_early_function_is_blamed_alone(tmp_path, capsys):
    wrong_loss = 'def mnist_loss(predictions, targets):\n    return torch.where(targets==1, 1-predictions, predictions).mean()'
    wrong_acc = 'def batch_accuracy(xb, yb):\n    return ((xb > 0).float() == yb).float().mean().item()'
    ok, lines = lines_of(capsys, copy_of_10(tmp_path, **{**ANSWERS, 'mnist_loss': wrong_loss, 'batch_accuracy': wrong_acc}))
    failed = [l.split(':')[0] for l in lines if l.startswith('✗')]
    assert not ok and failed == ['✗ mnist_loss', '✗ batch_accuracy'], lines
    by = {l.split(':')[0][2:]: l for l in lines}
    assert 'without the sigmoid' in by['mnist_loss'] and 'returned a Python number' in by['batch_accuracy']
    for caller, fault in (('calc_grad', 'mnist_loss'), ('train_epoch', 'mnist_loss'), ('validate_epoch', 'batch_accuracy')):
        assert by[caller].startswith(f'✓ {caller}') and f'your {fault} is not right yet, fix it first' in by[caller], by[caller]

def test_stubs_of_a_notebook_are_not_yet_written(tmp_path, capsys):
    ok, lines = lines_of(capsys, copy_of_10(tmp_path))
    assert not ok and lines == [f'… {n}: not yet written' for n in TEN]

def test_loops_and_exits_are_stopped_and_named(tmp_path, capsys):
    (tmp_path/'wild.py').write_text('''import os, sys, torch
def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()
def linear1(xb, weights, bias):
    while True: pass
def mnist_loss(predictions, targets): sys.exit(0)
def train_epoch(model, lr, params, dl):
    while True:
        for xb, yb in dl: pass
def batch_accuracy(xb, yb): raise SystemExit('bye')
def mnist_distance(a, b): os._exit(0)
def simple_net(xb, w1, b1, w2, b2): return torch.relu(xb@w1 + b1)@w2 + b2
''')
    start = time.perf_counter()
    ok, lines = lines_of(capsys, tmp_path/'wild.py', timeout=2)
    took = time.perf_counter() - start
    assert not ok and [l.split(':')[0] for l in lines] == ['✓ init_params', '✗ linear1', '✗ mnist_loss', '✗ train_epoch',
                                                           '✗ batch_accuracy', '✗ mnist_distance', '✓ simple_net'], lines
    assert 'still running after 2 s' in lines[1] and 'still running after 2 s' in lines[3]
    assert 'called sys.exit(0)' in lines[2] and "called sys.exit('bye')" in lines[4] and 'os._exit' in lines[5]
    assert took < 60, took

def test_a_loop_at_import_is_one_line(tmp_path):
    (tmp_path/'loop.py').write_text('import torch\nwhile True: pass\n')
    with pytest.raises(Mnist37Error, match='loop.py was still running after 2 s while it was loaded'):
        check_file(tmp_path/'loop.py', timeout=2)

@pytest.mark.parametrize('name,text,words', [
    ('nowhere.py', None, 'nowhere.py does not exist'), ('notes.txt', 'x', 'notes.txt is not a .py file or an .ipynb notebook'),
    ('broken.ipynb', '{"cells": [', 'broken.ipynb is not a readable notebook'),
    ('syntax.py', 'import torch\n\ndef mnist_loss(p, t)\n    return p\n', 'syntax.py line 3: SyntaxError'),
    ('raises.py', 'import torch\nx = 1\ny = undefined_name + 1\n', "raises.py line 3: NameError: name 'undefined_name' is not defined"),
    ('exits.py', 'import sys\nsys.exit(0)\n', 'exits.py line 2: SystemExit'),
    ('none.py', 'import torch\nx = 1\n', "none.py defines none of the chapter's functions")])
def test_a_file_that_cannot_be_checked_is_one_line(tmp_path, name, text, words):
    if text is not None: (tmp_path/name).write_text(text)
    with pytest.raises(Mnist37Error) as e: check_file(tmp_path/name)
    assert words in str(e.value) and '\n' not in str(e.value), str(e.value)

def test_a_folder_is_one_line(tmp_path):
    with pytest.raises(Mnist37Error, match='is a folder'): check_file(tmp_path)

def test_no_warning_leaks_from_a_check():
    def double_sigmoid(predictions, targets):
        p = predictions.sigmoid().sigmoid()
        return torch.where(targets==1, 1-p, p).mean()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        ok, line = verdict(double_sigmoid, 'mnist_loss')
    assert not ok and 'sigmoid twice' in line and seen == []

def test_a_check_leaves_no_pipe_open(tmp_path, capsys):  # an unclosed pipe is a ResourceWarning in whatever runs next
    (tmp_path/'mine.py').write_text(RIGHT + 'def batch_accuracy(xb, yb):\n    while True: pass\n')  # a hang: two workers
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        assert not check_file(tmp_path/'mine.py', timeout=2)
        for t in threading.enumerate():
            if t.name.endswith('(read)'): t.join(10)  # the threads that read the workers' pipes
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []

def test_check_a_file_of_right_and_wrong_functions(env, tmp_path):
    (tmp_path/'mine.py').write_text(RIGHT + WRONG)
    r = mnist37('check', tmp_path/'mine.py', env=env)
    assert r.returncode == 1 and r.stderr == '', r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '✓ linear1: 2 checks passed' and lines[1] == '✓ mnist_loss: 5 checks passed'
    assert lines[2].startswith('✗ train_epoch: train_epoch never zeroes the gradients')
    assert lines[3].startswith('✗ batch_accuracy: batch_accuracy thresholded the raw scores at 0.5')
    assert len(lines) == 4

def test_check_a_file_of_right_functions_exits_0(env, tmp_path):
    (tmp_path/'mine.py').write_text(RIGHT)
    r = mnist37('check', tmp_path/'mine.py', env=env)
    assert r.returncode == 0 and r.stdout.count('✓') == 2, r.stdout + r.stderr

def test_check_a_file_that_does_not_import(env, tmp_path):
    (tmp_path/'syntax.py').write_text('import torch\n\ndef mnist_loss(p, t)\n    return p\n')
    r = mnist37('check', tmp_path/'syntax.py', env=env)
    assert r.returncode == 1 and r.stdout == ''
    assert r.stderr.count('\n') == 1 and 'syntax.py line 3: SyntaxError' in r.stderr

def code_of(nb_name):
    nb = json.loads((ROOT/'nbs'/nb_name).read_text())
    return nb, [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']

@pytest.mark.parametrize('nb_name,names,n_defs', [('10_your_turn.ipynb', TEN, 12), ('12_your_turn_digits.ipynb', ('softmax', 'cross_entropy'), 2)])
def test_stub_notebook_holds_no_solutions_and_says_not_yet_written(nb_name, names, n_defs):
    nb, code = code_of(nb_name)
    defs = [d for src in code for d in ast.walk(ast.parse(src)) if isinstance(d, ast.FunctionDef)]
    assert len(defs) == n_defs  # in 10: nine functions and BasicOptim's three methods
    for d in defs: assert ast.unparse(d.body[-1]) == 'raise NotImplementedError' and len(d.body) == 1, d.name
    outs = [o for c in nb['cells'] for o in c.get('outputs', [])]
    assert [''.join(o.get('text', '')).strip() for o in outs] == [f'… {n}: not yet written' for n in names]
    assert all(o['output_type'] == 'stream' and o['name'] == 'stdout' for o in outs)  # no True/False, no warning

def your_turn_code(nb_name):
    "The code cells of a stub notebook, or of the '## Your turn' section that ends a chapter notebook."
    nb, _ = code_of(nb_name)
    cells = nb['cells']
    start = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and ''.join(c['source']).startswith('## Your turn')), 0)
    return [''.join(c['source']) for c in cells[start:] if c['cell_type'] == 'code']

def test_every_checked_function_has_its_stub():
    names = [n for nb in ('10_your_turn.ipynb', '12_your_turn_digits.ipynb', '08_optimizers.ipynb', '14_check_your_understanding.ipynb')
             for src in your_turn_code(nb)
             for n in [d.name for d in ast.parse(src).body if isinstance(d, (ast.FunctionDef, ast.ClassDef))]]
    assert sorted(names) == sorted(CHECKERS)

def test_a_caller_written_before_its_callee_passes_and_says_so(tmp_path, capsys):
    ok, lines = lines_of(capsys, copy_of_10(tmp_path, calc_grad=ANSWERS['calc_grad']))
    assert not ok and "✓ calc_grad: 3 checks passed (with mnist37's mnist_loss: your mnist_loss is not written yet)" in lines

# Issue 30. A filled-in copy of each notebook with stubs gets a verdict per function within the default time limit:
# loading a notebook runs only what defines the chapter's functions and what they need, not its experiments.
MOMENTUM = '''class Momentum:
    def __init__(self, params, lr, mom=0.9):
        self.params, self.lr, self.mom = list(params), lr, mom
        self.avgs = [torch.zeros_like(p) for p in self.params]
    def step(self):
        for p, avg in zip(self.params, self.avgs):
            avg.mul_(self.mom).add_(p.grad)
            p.data -= self.lr*avg
    def zero_grad(self):
        for p in self.params: p.grad = None'''
ADAM = '''class Adam:
    def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8):
        self.params, self.lr, self.mom, self.sqr_mom, self.eps, self.n = list(params), lr, mom, sqr_mom, eps, 0
        self.avgs = [torch.zeros_like(p) for p in self.params]
        self.sqrs = [torch.zeros_like(p) for p in self.params]
    def step(self):
        self.n += 1
        for p, avg, sqr in zip(self.params, self.avgs, self.sqrs):
            avg.mul_(self.mom).add_((1 - self.mom)*p.grad)
            sqr.mul_(self.sqr_mom).add_((1 - self.sqr_mom)*p.grad**2)
            p.data -= self.lr*(avg/(1 - self.mom**self.n))/((sqr/(1 - self.sqr_mom**self.n)).sqrt() + self.eps)
    def zero_grad(self):
        for p in self.params: p.grad = None'''
DIGITS = {'softmax': 'def softmax(x):\n    e = (x - x.max(-1, keepdim=True).values).exp()\n    return e/e.sum(-1, keepdim=True)',
          'cross_entropy': 'def cross_entropy(scores, targets):\n    s = scores - scores.max(-1, keepdim=True).values\n'
                           '    logp = s - s.exp().sum(-1, keepdim=True).log()\n    return -logp[torch.arange(len(targets)), targets].mean()'}

QUESTIONS = {'double_odds': 'def double_odds(xs):\n    return [2*x for x in xs if x % 2 == 1]',
             'rmse': 'def rmse(a, b):\n    return ((a - b)**2).mean().sqrt()',
             'mean_abs_diff': 'def mean_abs_diff(a, b):\n    return (a - b).abs().mean()',
             'bottom_right': 'def bottom_right(t):\n    return t[-2:, -2:]',
             'sigmoid': 'def sigmoid(x):\n    return 1/(1 + torch.exp(-x))',
             'pair_up': 'def pair_up(a, b):\n    return list(zip(a, b))',
             'relu': 'def relu(x):\n    return x.clamp(min=0)'}

@pytest.mark.parametrize('nb_name,answers,imported', [('12_your_turn_digits.ipynb', DIGITS, ()),
    ('08_optimizers.ipynb', dict(Momentum=MOMENTUM, Adam=ADAM), ('init_params', 'mnist_loss', 'BasicOptim')),
    ('14_check_your_understanding.ipynb', QUESTIONS, ('init_params', 'linear1', 'mnist_loss', 'mnist_distance'))])
def test_a_filled_in_copy_of_each_stub_notebook_passes_in_time(tmp_path, capsys, nb_name, answers, imported):
    start = time.perf_counter()
    ok, lines = lines_of(capsys, copy_of_10(tmp_path, nb_name, **answers))
    took = time.perf_counter() - start
    expected = [f"{'·' if n in imported else '✓'} {n}" for n in CHECKERS if n in imported or n in answers]  # in the table's order
    assert ok and [l.split(':')[0] for l in lines] == expected, lines
    print(f'{nb_name}: {took:.1f} s')  # the notebook's experiments (08's race of optimizers: minutes) did not run

def test_a_notebook_runs_what_its_functions_need_and_not_its_experiments(tmp_path, capsys):
    nb = {'cells': [{'cell_type': 'code', 'source': 'import torch\nimport time\nSCALE = 2.0\n'},
                    {'cell_type': 'code', 'source': 'def helper(x): return x*SCALE/2\ntime.sleep(1000)\n'},
                    {'cell_type': 'code', 'source': 'def linear1(xb, weights, bias): return helper(xb@weights) + bias\n'
                                                    'trained = linear1(1, 2, 3)  # an experiment that would fail\n'},
                    {'cell_type': 'code', 'source': '%timeit linear1\n!ls\nopen("ran", "w").write("experiments ran")\n'}]}
    (tmp_path/'mine.ipynb').write_text(json.dumps(nb))
    ok, lines = lines_of(capsys, tmp_path/'mine.ipynb', timeout=5)
    assert ok and lines == ['✓ linear1: 2 checks passed'] and not (tmp_path/'ran').exists()

# A verdict the file cannot forge: the comparison happens in the checker's own process, on what the worker sends, and
# the worker's messages carry a key that only it knows. Each file below holds a wrong linear1 (no bias).
WRONG_LINEAR1 = 'def linear1(xb, weights, bias): return xb@weights\n'

def test_patching_torch_or_mnist37_does_not_make_a_wrong_function_pass(tmp_path, capsys):
    (tmp_path/'patch.py').write_text('import torch, mnist37.judge, mnist37.worker, mnist37.exercises\n' + WRONG_LINEAR1 + '''
torch.allclose = torch.Tensor.allclose = lambda *a, **k: True
torch.equal = torch.Tensor.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *args, **kw: torch.ones_like(a, dtype=torch.bool)
mnist37.exercises.CHECKERS['linear1'].ref = linear1
mnist37.judge.verdict = mnist37.worker.verdict = lambda *a, **k: (True, '✓ linear1: 2 checks passed')
mnist37.judge.same = lambda *a, **k: True
mnist37.judge.judge = lambda *a, **k: (2, '')
''')
    ok, lines = lines_of(capsys, tmp_path/'patch.py')
    assert not ok and lines == ['✗ linear1: linear1 gave xb@weights without the bias; it should add the bias. Hint: without '
                                'it, every line through the origin is all the model can draw.'], lines

def test_lines_written_into_the_checkers_pipe_are_refused(tmp_path, capsys):
    (tmp_path/'pipe.py').write_text('import os\n' + WRONG_LINEAR1 + '''
lines = b'{"defined": ["linear1"]}\\n{"ok": true, "line": "\\\\u2713 linear1: 2 checks passed"}\\n'
for fd in os.listdir('/proc/self/fd'):
    try: os.write(int(fd), lines)
    except OSError: pass
os._exit(0)
''')
    with pytest.raises(Mnist37Error, match="pipe.py wrote into the checker's own pipe, so its results cannot be trusted"):
        check_file(tmp_path/'pipe.py')
    assert '✓' not in capsys.readouterr().out

def test_a_sitecustomize_in_the_current_folder_is_not_run(env, tmp_path):
    (tmp_path/'sitecustomize.py').write_text('import mnist37.judge\nopen("imported", "w")\nmnist37.judge.same = lambda *a, **k: True\n')
    (tmp_path/'wrong.py').write_text(WRONG_LINEAR1)
    r = mnist37('check', 'wrong.py', env={k: v for k, v in env.items() if k != 'PYTHONPATH'}, cwd=tmp_path)
    assert r.returncode == 1 and r.stdout.startswith('✗ linear1: linear1 gave xb@weights without the bias'), r.stdout + r.stderr
    assert not (tmp_path/'imported').exists()

def test_a_line_written_to_the_terminal_does_not_reach_it(tmp_path):
    (tmp_path/'tty.py').write_text('''
def linear1(xb, weights, bias):
    with open('/dev/tty', 'w') as tty: tty.write('\\u2713 linear1: 2 checks passed\\n')
    return xb@weights + bias
''')
    pid, fd = pty.fork()  # the check runs with a terminal of its own, as it does in a learner's shell
    if pid == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import sys; from mnist37.exercises import check_file; '
                                  'check_file(sys.argv[1])', str(tmp_path/'tty.py')])
    seen = b''
    while True:
        try: chunk = os.read(fd, 4096)
        except OSError: break  # the terminal closed: the check is over
        if not chunk: break
        seen += chunk
    os.waitpid(pid, 0)
    text = seen.decode()
    assert '✗ linear1: linear1 raised an error (OSError' in text and '✓' not in text, text

def test_control_characters_never_reach_the_terminal(tmp_path, capsys):
    (tmp_path/'escapes.py').write_text('''
def linear1(xb, weights, bias): raise ValueError('\\x1b[2K\\r\\x1b[32m\\u2713 linear1: 2 checks passed\\x1b]0;title\\x07')
def mnist_distance(a, b):
    print('\\x1b[2J\\x1b[Hcleared')
    return (a - b).abs().mean((-1, -2))
''')
    ok, lines = lines_of(capsys, tmp_path/'escapes.py')
    assert not ok and lines[0].startswith('✗ linear1: linear1 raised an error (ValueError: [2K [32m✓ linear1'), lines
    assert lines[1:] == ['✓ mnist_distance: 3 checks passed'] + ['    printed: [2J[Hcleared']*3, lines  # once per case
    assert not any(ch in line for line in lines for ch in '\x1b\r\x07'), lines
    (tmp_path/'loads.py').write_text('raise ValueError("\\x1b[2K\\u2713 all passed")\n')
    with pytest.raises(Mnist37Error) as e: check_file(tmp_path/'loads.py')
    assert 'loads.py line 1: ValueError: [2K✓ all passed' in str(e.value) and '\x1b' not in str(e.value), str(e.value)

# No process that a checked file starts outlives the check, however the check ends.
def alive(pid:int)->bool:
    "Whether process `pid` is running (a zombie, dead but not yet reaped by its parent, is not)."
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] not in 'ZX'
    except (OSError, IndexError): return False

def gone(pids, seconds=10)->bool:
    "Whether every one of `pids` has ended within `seconds`."
    end = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < end: time.sleep(0.1)
    return not any(alive(p) for p in pids)

STARTS_PROCESSES = '''import os, subprocess, sys, time, torch
from pathlib import Path
PIDS = Path(__file__).parent/'pids'
def noted(pid): PIDS.open('a').write(f'{pid}\\n')
for _ in range(3): noted(subprocess.Popen(['sleep', '300']).pid)
noted(subprocess.Popen(['setsid', 'sleep', '300']).pid)  # a session of its own, out of the worker's process group
noted(subprocess.Popen(['sleep', '300'], start_new_session=True).pid)
subprocess.Popen([sys.executable, '-c', 'import os, sys, time\\nos.setsid()\\nif os.fork(): os._exit(0)\\n'
                  'open(sys.argv[1], "a").write(f"{os.getpid()}\\\\n"); time.sleep(300)', str(PIDS)])  # a daemon, orphaned
while len(PIDS.read_text().split()) < 6: time.sleep(0.05)  # until the daemon has noted itself
def linear1(xb, weights, bias):
    noted(subprocess.Popen(['sleep', '300']).pid)
    return xb@weights + bias
'''

def test_no_process_a_file_starts_outlives_its_check(tmp_path, capsys):
    (tmp_path/'procs.py').write_text(STARTS_PROCESSES)
    ok, lines = lines_of(capsys, tmp_path/'procs.py')
    pids = [int(p) for p in (tmp_path/'pids').read_text().split()]
    assert ok and lines == ['✓ linear1: 2 checks passed'] and len(pids) == 8, (lines, pids)
    assert gone(pids), [p for p in pids if alive(p)]

def test_a_check_ended_by_sigterm_leaves_no_process(tmp_path):
    (tmp_path/'stubborn.py').write_text(STARTS_PROCESSES + '''
def mnist_loss(predictions, targets):
    noted(os.getpid())
    while True:
        try:
            while True: pass
        except BaseException: pass  # swallows the time limit too
''')
    check = subprocess.Popen([sys.executable, '-c', 'import sys; from mnist37.exercises import check_file; '
                              'check_file(sys.argv[1], timeout=60)', str(tmp_path/'stubborn.py')], stdout=subprocess.PIPE)
    end = time.monotonic() + 120
    while len((tmp_path/'pids').read_text().split() if (tmp_path/'pids').exists() else ()) < 9 and time.monotonic() < end:
        time.sleep(0.2)
    check.send_signal(signal.SIGTERM)
    assert check.wait(30) == 128 + signal.SIGTERM
    pids = [int(p) for p in (tmp_path/'pids').read_text().split()]
    assert len(pids) == 9 and gone(pids), [p for p in pids if alive(p)]

def test_a_json_or_signal_module_beside_the_file_or_in_the_current_folder_breaks_nothing(env, tmp_path):
    for folder in (tmp_path, tmp_path/'work'):
        folder.mkdir(exist_ok=True)
        for name in ('json', 'signal', 'queue', 'traceback'): (folder/f'{name}.py').write_text('raise RuntimeError("not the standard library")\n')
    (tmp_path/'work'/'mine.py').write_text(RIGHT)
    r = mnist37('check', 'work/mine.py', env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == '✓ linear1: 2 checks passed\n✓ mnist_loss: 5 checks passed\n', r.stdout + r.stderr

# Whatever is wrong with a file, the checker says so in one line that names the file, without a traceback.
ODD_NOTEBOOKS = [('{"cells": 5}', 'is not a notebook: it has no list of cells'), ('{"cells": [{"cell_type": "code"}]}', 'cell 1 has no source'),
                 ('{"cells": ["print(1)"]}', 'cell 1 is not a cell but str'),
                 ('{"cells": [{"cell_type": "code", "source": 5}]}', 'cell 1 has no source'),
                 ('[1, 2]', 'is not a notebook: it has no list of cells'), ('{"cells": [' * 100_000, 'is not a readable notebook')]

@pytest.mark.parametrize('text,words', ODD_NOTEBOOKS, ids=[w for _, w in ODD_NOTEBOOKS])
def test_a_malformed_notebook_is_one_line(tmp_path, text, words):
    (tmp_path/'odd.ipynb').write_text(text)
    with pytest.raises(Mnist37Error) as e: check_file(tmp_path/'odd.ipynb')
    assert f'odd.ipynb {words}' in str(e.value) and '\n' not in str(e.value), str(e.value)

def test_encodings_python_accepts_are_accepted_and_the_others_named(tmp_path, capsys):
    (tmp_path/'bom.py').write_bytes(b'\xef\xbb\xbf' + RIGHT.encode())
    (tmp_path/'declared.py').write_bytes(b'# -*- coding: latin-1 -*-\n' + RIGHT.encode() + b'# caf\xe9\n')
    for name in ('bom.py', 'declared.py'):
        ok, lines = lines_of(capsys, tmp_path/name)
        assert ok and lines == ['✓ linear1: 2 checks passed', '✓ mnist_loss: 5 checks passed'], (name, lines)
    (tmp_path/'latin.py').write_bytes(b'import torch\n# caf\xe9\n')  # Python refuses it too: no encoding is declared
    (tmp_path/'nul.py').write_bytes(b'import torch\nx = 1\x00\n')
    for name, words in (('latin.py', 'latin.py line 2 is not utf-8'), ('nul.py', 'nul.py line 2 holds a NUL byte')):
        with pytest.raises(Mnist37Error, match=words): check_file(tmp_path/name)

def test_a_pipe_or_a_device_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path/'fifo.py')
    (tmp_path/'zero.py').symlink_to('/dev/zero')
    for name in ('fifo.py', 'zero.py'):
        start = time.perf_counter()
        with pytest.raises(Mnist37Error, match=f'{name} is not a file but a device or a pipe'): check_file(tmp_path/name)
        assert time.perf_counter() - start < 1

def test_a_timeout_beyond_a_day_is_one_line(env, tmp_path):
    (tmp_path/'mine.py').write_text(RIGHT)
    r = mnist37('check', tmp_path/'mine.py', '--timeout', '1e10', env=env)
    assert r.returncode == 1 and r.stdout == '' and r.stderr == ('mnist37: error: timeout 1e+10 s is not between 0 and a day '
                                                                '(86400 s): a check takes seconds\n'), r.stderr

def test_a_fork_or_an_exit_while_loading_is_named(tmp_path):
    (tmp_path/'forks.py').write_text('import os, torch\n' + WRONG_LINEAR1 + 'os.fork()\nx = 1\n')
    with pytest.raises(Mnist37Error, match=r'forks.py line 3 called os.fork\(\) while the file was loaded'):
        check_file(tmp_path/'forks.py')
    (tmp_path/'exits.py').write_text('import os, time\ntime.sleep(1)\nos._exit(3)\n')
    with pytest.raises(Mnist37Error, match=r'exits.py ended Python while it was loaded \(exit code 3: os._exit\(\)\?\)'):
        check_file(tmp_path/'exits.py')

def test_what_a_function_prints_is_shown_and_argv_is_the_file(tmp_path, capsys):
    (tmp_path/'talks.py').write_text('''import sys, torch
ARGV = list(sys.argv)
def linear1(xb, weights, bias):
    print('xb is', tuple(xb.shape))
    for i in range(10_000): print(i, file=sys.stderr)
    assert ARGV == [__file__], ARGV
    return xb@weights + bias
''')
    ok, lines = lines_of(capsys, tmp_path/'talks.py')
    assert ok and lines == ['✓ linear1: 2 checks passed', '    printed: xb is (1, 784)', '    printed: 0', '    printed: 1',
                            '    printed: ... and 19999 more lines'], lines

def test_mnist37s_own_function_is_named_whether_imported_or_wrapped(tmp_path, capsys):
    (tmp_path/'borrowed.py').write_text('from mnist37.model import linear1\nimport mnist37.model as M\n'
                                        'def mnist_loss(predictions, targets): return M.mnist_loss(predictions, targets)\n')
    ok, lines = lines_of(capsys, tmp_path/'borrowed.py')
    assert ok and lines == ["· linear1: this is mnist37's own linear1, so there is nothing of yours to check",
                            "· mnist_loss: 5 checks passed, but your mnist_loss calls mnist37's own, so there is nothing of "
                            'yours to check'], lines
