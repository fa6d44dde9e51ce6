"""mnist37's optimizers against PyTorch's and fastai's: the same parameters after 10 steps on random parameters and
gradients (to 1e-6), with the hyperparameters each library names differently; where the defaults differ, that they do."""
import warnings
import pytest, torch
from mnist37.checks import Mnist37Error
from mnist37.optim import BasicOptim
from mnist37.optimizers import OPTIMIZERS, Optimizer, SGD, Momentum, RMSProp, Adam

def after_steps(make_opt, steps=10, seed=0):
    "All parameters, flattened, after `steps` steps of `make_opt(params)`, the same random start and gradients each time."
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(7, 5, generator=g).requires_grad_(), torch.randn(5, generator=g).requires_grad_()]
    grads = [[torch.randn(p.shape, generator=g) for p in params] for _ in range(steps)]
    opt = make_opt(params)
    for gs in grads:
        for p, grad in zip(params, gs): p.grad = grad.clone()
        opt.step()
        opt.zero_grad()
    return torch.cat([p.detach().view(-1) for p in params])

def assert_same(ours, theirs, moved_from=None):
    a, b = after_steps(ours), after_steps(theirs)
    assert (a - b).abs().max().item() <= 1e-6, (a - b).abs().max().item()
    if moved_from is not None: assert (a - after_steps(moved_from)).abs().max().item() > 1e-3  # the test can fail

def fastai_opt():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        import fastai.optimizer as fo
    return fo

still = lambda ps: SGD(ps, 0.)

@pytest.mark.parametrize('seed', [0, 1])
def test_against_pytorch(seed):
    for ours, theirs in [
        (lambda ps: SGD(ps, 0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
        (lambda ps: Momentum(ps, 0.05, mom=0.8), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0)),
        (lambda ps: Momentum(ps, 0.05), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
        (lambda ps: RMSProp(ps, 0.01, sqr_mom=0.9, eps=1e-6), lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6)),
        (lambda ps: RMSProp(ps, 0.01), lambda ps: torch.optim.RMSprop(ps, lr=0.01)),  # same defaults
        (lambda ps: Adam(ps, 0.01, mom=0.8, sqr_mom=0.99, eps=1e-6), lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
        (lambda ps: Adam(ps, 0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),  # same defaults
    ]:
        a = after_steps(ours, seed=seed)
        assert (a - after_steps(theirs, seed=seed)).abs().max().item() <= 1e-6
        assert (a - after_steps(still, seed=seed)).abs().max().item() > 1e-3

def test_sgd_is_basic_optim():
    assert_same(lambda ps: SGD(ps, 0.1), lambda ps: BasicOptim(ps, 0.1), moved_from=still)
    assert_same(lambda ps: Momentum(ps, 0.1, mom=0.), lambda ps: SGD(ps, 0.1))

def test_against_fastai_where_the_definitions_agree():
    fo = fastai_opt()
    assert_same(lambda ps: SGD(ps, 0.1), lambda ps: fo.SGD(ps, 0.1), moved_from=still)
    assert_same(lambda ps: Momentum(ps, 0.05, mom=0.8), lambda ps: fo.SGD(ps, 0.05, mom=0.8), moved_from=lambda ps: SGD(ps, 0.05))
    assert_same(lambda ps: RMSProp(ps, 0.01, sqr_mom=0.9), lambda ps: fo.RMSProp(ps, 0.01, sqr_mom=0.9, eps=1e-8), moved_from=still)
    assert_same(lambda ps: Adam(ps, 0.01, sqr_mom=0.99, eps=1e-5), lambda ps: fo.Adam(ps, 0.01, wd=0.), moved_from=still)

def test_fastai_defaults_differ():
    "fastai's Adam: sqr_mom 0.99, eps 1e-5, decoupled weight decay 0.01; its RMSProp's eps is 1e-8 like ours."
    fo = fastai_opt()
    fastai_like = lambda ps: Adam(ps, 0.01, sqr_mom=0.99, eps=1e-5)
    assert (after_steps(fastai_like) - after_steps(lambda ps: fo.Adam(ps, 0.01))).abs().max().item() > 1e-4  # its wd
    assert (after_steps(lambda ps: Adam(ps, 0.01)) - after_steps(lambda ps: fo.Adam(ps, 0.01, wd=0.))).abs().max().item() > 1e-6
    class Decoupled(Adam):
        def update(self, p, grad, state, **h):
            p.mul_(1 - self.lr*0.01)
            super().update(p, grad, state, **h)
    assert_same(lambda ps: Decoupled(ps, 0.01, sqr_mom=0.99, eps=1e-5), lambda ps: fo.Adam(ps, 0.01))

def test_adam_bias_correction():
    p = torch.zeros(1, requires_grad=True)
    for debias, first in ((True, 0.01), (False, 0.01*0.1/0.001**0.5)):
        p = torch.zeros(1, requires_grad=True)
        opt = Adam([p], 0.01, debias=debias)
        p.grad = torch.ones(1); opt.step()
        assert abs(-p.item() - first) < 1e-6, (debias, p.item())

def test_state_is_kept_per_parameter():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = Momentum([a, b], 1., mom=0.5)
    for _ in range(3):
        a.grad, b.grad = torch.ones(1), -2*torch.ones(1)
        opt.step()
    assert (a.item(), b.item()) == (-(1 + 1.5 + 1.75), 2*(1 + 1.5 + 1.75))

def test_table_and_defaults():
    assert list(OPTIMIZERS) == ['sgd', 'momentum', 'rmsprop', 'adam']
    assert {k: v.defaults for k, v in OPTIMIZERS.items()} == {
        'sgd': {}, 'momentum': {'mom': 0.9}, 'rmsprop': {'sqr_mom': 0.99, 'eps': 1e-8},
        'adam': {'mom': 0.9, 'sqr_mom': 0.999, 'eps': 1e-8, 'debias': True}}
    for cls in OPTIMIZERS.values():
        opt = cls([torch.zeros(2, requires_grad=True)], 0.1)
        assert isinstance(opt, Optimizer) and opt.hypers == cls.defaults and opt.lr == 0.1
    assert Adam([torch.zeros(1)], 0.1, mom=0.5).hypers['mom'] == 0.5

def test_unknown_hyperparameter_is_a_one_line_error():
    with pytest.raises(Mnist37Error, match='Momentum has no hyperparameter beta; it takes mom') as e:
        Momentum([torch.zeros(1)], 0.1, beta=0.9)
    assert '\n' not in str(e.value)
    with pytest.raises(Mnist37Error, match='SGD has no hyperparameter mom; it takes only the learning rate'):
        SGD([torch.zeros(1)], 0.1, mom=0.9)

def test_zero_grad_and_parameters_without_gradients():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = Adam([a, b], 0.1)
    a.grad = torch.ones(2)
    opt.step()  # b has no gradient: left alone
    assert torch.equal(b.detach(), torch.ones(2)) and not torch.equal(a.detach(), torch.ones(2))
    opt.zero_grad()
    assert a.grad is None and b.grad is None

def test_no_heavy_imports():
    import subprocess, sys
    code = ('import sys, mnist37.optimizers, mnist37.learner; '
            'print([m for m in ("matplotlib", "torchvision", "fastai", "fastbook") if m in sys.modules])')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]', out
