"""Exercises (issues 12 and 20): `check_file` on a learner's .py file or notebook, its limits, and the stub notebooks."""
import ast, json, time, warnings
import pytest, torch
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
    for xb, yb in dl:
        mnist_loss(model(xb), yb).backward()
        for p in params: p.data -= p.grad*lr
'''
# One right answer per stub of notebook 10, as a learner would write it there.
ANSWERS = {
    'init_params': 'def init_params(size, std=1.0):\n    return (torch.randn(size)*std).requires_grad_()',
    'linear1': 'def linear1(xb, weights, bias):\n    return xb@weights + bias',
    'mnist_loss': 'def mnist_loss(predictions, targets):\n    predictions = predictions.sigmoid()\n'
                  '    return torch.where(targets==1, 1-predictions, predictions).mean()',
    'calc_grad': 'def calc_grad(xb, yb, model):\n    loss = mnist_loss(model(xb), yb)\n    loss.backward()',
    'train_epoch': 'def train_epoch(model, lr, params, dl):\n    for xb, yb in dl:\n        calc_grad(xb, yb, model)\n'
                   '        for p in params:\n            p.data -= p.grad*lr\n            p.grad.zero_()',
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

def copy_of_10(tmp_path, **answers):
    "A learner's copy of notebook 10 with the given stubs replaced by answers (outputs and all)."
    nb = json.loads((ROOT/'nbs'/'10_your_turn.ipynb').read_text())
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
    ('none.py', 'from mnist37.model import linear1\n', "none.py defines none of the chapter's functions")])
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
