"""Exercises (issue 12): `mnist37 check` on a learner's file, and the stub notebook that holds no solutions."""
import ast, json
from conftest import ROOT, mnist37

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

def test_check_a_file_of_right_and_wrong_functions(env, tmp_path):
    (tmp_path/'mine.py').write_text(RIGHT + WRONG)
    r = mnist37('check', tmp_path/'mine.py', env=env)
    assert r.returncode == 1 and r.stderr == '', r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '✓ linear1: 2 checks passed' and lines[1] == '✓ mnist_loss: 6 checks passed'
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
    (tmp_path/'raises.py').write_text('import torch\nx = 1\ny = undefined_name + 1\n')
    r = mnist37('check', tmp_path/'raises.py', env=env)
    assert r.returncode == 1 and "raises.py line 3: NameError: name 'undefined_name' is not defined" in r.stderr
    r = mnist37('check', tmp_path/'nowhere.py', env=env)
    assert r.returncode == 1 and 'nowhere.py does not exist' in r.stderr

def test_stub_notebook_holds_no_solutions_and_says_not_yet_written():
    nb = json.loads((ROOT/'nbs'/'10_your_turn.ipynb').read_text())
    code = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']
    defs = [d for src in code for d in ast.walk(ast.parse(src)) if isinstance(d, ast.FunctionDef)]
    assert len(defs) == 14  # eleven functions and BasicOptim's three methods
    for d in defs: assert ast.unparse(d.body[-1]) == 'raise NotImplementedError' and len(d.body) == 1, d.name
    printed = [''.join(o.get('text', '')) for c in nb['cells'] for o in c.get('outputs', [])]
    assert sorted(p.split(':')[0] for p in printed if p.startswith('…')) == sorted(
        f'… {n}' for n in ('init_params', 'linear1', 'mnist_loss', 'calc_grad', 'train_epoch', 'batch_accuracy',
                           'validate_epoch', 'mnist_distance', 'BasicOptim', 'simple_net', 'softmax', 'cross_entropy'))
