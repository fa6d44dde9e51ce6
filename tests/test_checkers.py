"""Issue 20: every correct answer a learner may write passes its checker, and every known mistake gets the message that names it."""
import math, pytest, torch
import torch.nn.functional as F
from conftest import ROOT
from mnist37.exercises import CHECKERS, verdict
import mnist37.model as M, mnist37.train as T, mnist37.optim as O, mnist37.baseline as B, mnist37.nets as N, mnist37.digits as D

def where(p, t): return torch.where(t==1, 1-p, p)
def by_hand_loss(predictions, targets):
    p = 1/(1 + torch.exp(-predictions))
    return (targets*(1 - p) + (1 - targets)*p).mean()

def epoch(zero=True, sign=-1, use_lr=True, first_only=False, in_place=False, no_grad=False, twice=False):
    "A train_epoch, right or with the given mistakes; it returns the mean loss, each batch weighted by its size."
    def train_epoch(model, lr, params, dl):
        total, n = 0., 0
        for _ in range(2 if twice else 1):
            for xb, yb in dl:
                loss = T.calc_grad(xb, yb, model)
                with torch.no_grad() if no_grad else torch.enable_grad():
                    for p in params:
                        if in_place or no_grad: p -= p.grad*lr
                        else: p.data += sign*p.grad*(lr if use_lr else 1)
                for p in params:
                    if zero: p.grad = None
                total, n = total + loss.item()*len(xb), n + len(xb)
                if first_only: return total/n
        return total/n
    return train_epoch

def epoch_opt(model, lr, params, dl):
    opt, losses = torch.optim.SGD(params, lr=lr), []
    for xb, yb in dl:
        opt.zero_grad(); losses.append((T.calc_grad(xb, yb, model).item(), len(xb))); opt.step()
    return sum(l*n for l, n in losses)/sum(n for l, n in losses)

def grad_of(loss_func):
    "A calc_grad that calls backward() on `loss_func(model(xb), yb)` and returns the loss."
    def calc_grad(xb, yb, model):
        loss = loss_func(model(xb), yb)
        loss.backward()
        return loss
    return calc_grad

def validate_by_hand(model, valid_dl):
    total, count = 0., 0
    with torch.no_grad():
        for xb, yb in valid_dl: total += float(((model(xb) > 0).float() == yb).float().mean()); count += 1
    return round(total/count, 4)

def validate_and_train(model, valid_dl):
    valid_dl = list(valid_dl)
    T.train_epoch(model, 0.1, (model.keywords['weights'], model.keywords['bias']), valid_dl)
    return T.validate_epoch(model, valid_dl)

def validate_with_backward(model, valid_dl):
    accs = []
    for xb, yb in valid_dl:
        T.calc_grad(xb, yb, model); accs.append(T.batch_accuracy(model(xb), yb))
    return torch.stack(accs).mean().item()

class ListOptim:
    def __init__(self, params, lr): self.params, self.lr = list(params), lr
    def step(self):
        with torch.no_grad():
            for p in self.params: p -= self.lr*p.grad
    def zero_grad(self):
        for p in self.params: p.grad.zero_()
class SubOptim(torch.optim.Optimizer):
    def __init__(self, params, lr): super().__init__(params, dict(lr=lr))
    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g['params']: p.add_(p.grad, alpha=-g['lr'])
def optim(**methods):
    "mnist37's BasicOptim with some of its methods replaced by a learner's mistakes."
    return type('Mine', (O.BasicOptim,), methods)
def kept_init(self, params, lr): self.params, self.lr = params, lr
def zero_data(self):
    for p in self.params: p.data.zero_(); p.grad = None

def ce_naive(s, t): return -(s.exp()/s.exp().sum(-1, keepdim=True))[torch.arange(len(t)), t].log().mean()

RIGHT = [
    ('init_params', M.init_params), ('init_params', lambda size, std=1.0: (torch.randn(size)*std).requires_grad_()),
    ('init_params', lambda size, std=1.0: torch.normal(0., std, size if isinstance(size, tuple) else (size,), requires_grad=True)),
    ('init_params', lambda size, std=1.0: torch.nn.Parameter(torch.randn(size)*std)),
    ('linear1', M.linear1), ('linear1', lambda xb, weights, bias: torch.matmul(xb, weights) + bias),
    ('linear1', lambda xb, weights, bias: xb.mm(weights) + bias), ('linear1', lambda xb, w, b: F.linear(xb, w.T, b)),
    ('linear1', lambda xb, w, b: torch.einsum('ni,io->no', xb, w) + b),
    ('mnist_loss', M.mnist_loss), ('mnist_loss', by_hand_loss),
    ('mnist_loss', lambda p, t: torch.where(t==1, 1-torch.sigmoid(p), torch.sigmoid(p)).sum()/len(t)),
    ('calc_grad', T.calc_grad), ('calc_grad', grad_of(M.mnist_loss)), ('calc_grad', grad_of(by_hand_loss)),
    ('train_epoch', T.train_epoch), ('train_epoch', epoch(no_grad=True)), ('train_epoch', epoch_opt),
    ('train_epoch', epoch()),
    ('batch_accuracy', T.batch_accuracy), ('batch_accuracy', lambda xb, yb: ((xb > 0).long() == yb).float().mean()),
    ('batch_accuracy', lambda xb, yb: ((xb > 0).float() == yb).sum()/len(yb)),
    ('batch_accuracy', lambda xb, yb: (torch.where(xb > 0, 1, 0) == yb).float().mean()),
    ('validate_epoch', T.validate_epoch), ('validate_epoch', validate_by_hand),
    ('validate_epoch', lambda model, dl: torch.stack([T.batch_accuracy(model(x), y) for x, y in dl]).mean().item()),
    ('mnist_distance', B.mnist_distance), ('mnist_distance', lambda a, b: (a - b).abs().flatten(-2).mean(-1)),
    ('mnist_distance', lambda a, b: F.l1_loss(a, b.expand_as(a), reduction='none').mean((-2, -1))),
    ('BasicOptim', O.BasicOptim), ('BasicOptim', ListOptim), ('BasicOptim', lambda params, lr: torch.optim.SGD(params, lr)),
    ('BasicOptim', SubOptim),
    ('simple_net', N.simple_net), ('simple_net', lambda xb, w1, b1, w2, b2: torch.relu(xb@w1 + b1)@w2 + b2),
    ('simple_net', lambda xb, w1, b1, w2, b2: F.linear(torch.clamp(xb.mm(w1) + b1, min=0), w2.T, b2)),
    ('softmax', lambda x: F.softmax(x, dim=1)), ('softmax', D.softmax), ('softmax', lambda x: torch.softmax(x, -1)), ('softmax', lambda x: (x - x.logsumexp(-1, keepdim=True)).exp()),
    ('cross_entropy', D.cross_entropy), ('cross_entropy', lambda s, t: F.cross_entropy(s, t)),
    ('cross_entropy', lambda s, t: -torch.gather(torch.log_softmax(s, -1), 1, t[:, None]).mean()),
    ('cross_entropy', lambda s, t: (s.logsumexp(-1) - s[torch.arange(len(t)), t]).mean()),
]

WRONG = [
    ('init_params', lambda size, std=1.0: torch.randn(size).requires_grad_(), 'ignores std'),
    ('init_params', lambda size, std=1.0: torch.randn(size)*std, 'without requires_grad'),
    ('init_params', lambda size, std=1.0: ((torch.rand(size)*2 - 1)*std*math.sqrt(3)).requires_grad_(), 'uniform distribution'),
    ('init_params', lambda size, std=1.0: (torch.rand(size)*std).requires_grad_(), 'mean is not 0'),
    ('init_params', lambda size, std=1.0: torch.tensor(__import__('numpy').random.randn(*(size if isinstance(size, tuple) else (size,)))*std, requires_grad=True), 'float64'),
    ('init_params', lambda size, std=1.0: torch.randn(size, requires_grad=True)*std, 'not a leaf'),
    ('init_params', lambda size, std=1.0: torch.randn(3).requires_grad_(), 'wrong shape'),
    ('linear1', lambda xb, weights, bias: xb*weights + bias, 'element by element'),
    ('linear1', lambda xb, weights, bias: xb@weights, 'without the bias'),
    ('linear1', lambda xb, weights, bias: (xb + bias)@weights, 'added the bias to every pixel'),
    ('linear1', lambda xb, weights, bias: (xb@weights + bias).T, "where mnist37's has shape (5, 1)"),
    ('linear1', lambda xb, weights, bias: (xb@weights + bias).tolist(), 'returned a list of 1, not a tensor'),
    ('cross_entropy', lambda s, t: F.cross_entropy(s, t).item(), 'not a tensor'),
    ('mnist_loss', lambda p, t: torch.where(t==1, 1-p, p).mean(), 'without the sigmoid'),
    ('mnist_loss', lambda p, t: where(p.sigmoid(), t), 'must be one number'),
    ('mnist_loss', lambda p, t: torch.where(t==1, p.sigmoid(), 1-p.sigmoid()).mean(), 'swapped the two branches'),
    ('mnist_loss', lambda p, t: 1 - ((p > 0).float() == t).float().mean(), 'without a gradient'),
    ('mnist_loss', lambda p, t: where(p.sigmoid(), t).mean().item(), 'returned a Python number'),
    ('mnist_loss', lambda p, t: where(p.sigmoid(), t.squeeze()).mean(), '(n, n) table'),
    ('mnist_loss', lambda p, t: where(p.sigmoid().flatten(), t).mean(), '(n, n) table'),
    ('mnist_loss', lambda p, t: where(p.sigmoid().sigmoid(), t).mean(), 'sigmoid twice'),
    ('mnist_loss', lambda p, t: where(p.sigmoid(), t).sum(), 'where mnist37 gives'),
    ('mnist_loss', lambda p, t: where(p.detach().sigmoid(), t).mean(), 'without a gradient'),
    ('calc_grad', lambda xb, yb, model: M.mnist_loss(model(xb), yb), 'never called backward()'),
    ('calc_grad', grad_of(lambda p, t: (p - t).pow(2).mean()), 'not those of mnist_loss'),
    ('calc_grad', grad_of(lambda p, t: M.mnist_loss(t, p)), 'wrong way round'),
    ('train_epoch', epoch(zero=False), 'never zeroes the gradients'), ('train_epoch', epoch(sign=1), 'steps up the gradient'),
    ('train_epoch', epoch(use_lr=False), 'ignores lr'), ('train_epoch', epoch(first_only=True), 'stops after the first batch'),
    ('train_epoch', lambda model, lr, params, dl: 0.5, 'where they started'),
    ('train_epoch', epoch(in_place=True), 'in place'), ('train_epoch', epoch(twice=True), 'somewhere else'),
    ('batch_accuracy', lambda xb, yb: ((xb > 0.5) == yb).float().mean(), 'raw scores at 0.5'),
    ('batch_accuracy', lambda xb, yb: ((xb.sigmoid() > 0) == yb).float().mean(), 'calls every image a three'),
    ('batch_accuracy', lambda xb, yb: ((xb.sigmoid() >= 0.5) == yb).float().mean(), 'exactly 0'),
    ('batch_accuracy', lambda xb, yb: ((xb > 0) == yb).float().mean().item(), 'returned a Python number'),
    ('batch_accuracy', lambda xb, yb: ((xb > 0) == yb).float(), 'one number'),
    ('validate_epoch', validate_and_train, 'trained while validating'),
    ('validate_epoch', validate_with_backward, 'computed gradients'),
    ('validate_epoch', lambda model, dl: 0.5, 'where mnist37 gives'),
    ('mnist_distance', lambda a, b: (a - b).abs().mean(), 'gave a single number'),
    ('mnist_distance', lambda a, b: (a - b).mean((-1, -2)), 'without taking their absolute value'),
    ('mnist_distance', lambda a, b: ((a - b)**2).mean((-1, -2)).sqrt(), 'root mean squared'),
    ('BasicOptim', optim(step=lambda self: [p.data.add_(p.grad*self.lr) for p in self.params]), 'up their gradients'),
    ('BasicOptim', optim(step=lambda self: [p.data.sub_(p.grad) for p in self.params]), 'ignored lr'),
    ('BasicOptim', optim(zero_grad=lambda self: None), 'zero_grad left the gradients'),
    ('BasicOptim', optim(__init__=kept_init), 'generator'), ('BasicOptim', optim(zero_grad=zero_data), 'parameters themselves to zero'),
    ('simple_net', lambda xb, w1, b1, w2, b2: (xb@w1 + b1)@w2 + b2, 'no nonlinearity'),
    ('simple_net', lambda xb, w1, b1, w2, b2: torch.relu(torch.relu(xb@w1 + b1)@w2 + b2), 'ReLU to its output'),
    ('simple_net', lambda xb, w1, b1, w2, b2: torch.sigmoid(xb@w1 + b1)@w2 + b2, 'sigmoid between the layers'),
    ('simple_net', lambda xb, w1, b1, w2, b2: torch.relu(xb@w1 + b1).detach()@w2 + b2, 'not the right gradients'),
    ('softmax', lambda x: x.exp()/x.exp().sum(-1, keepdim=True), 'overflows'),
    ('softmax', lambda x: (x - x.max()).exp()/(x - x.max()).exp().sum(0, keepdim=True), 'each column'),
    ('softmax', lambda x: (x - x.max()).exp()/(x - x.max()).exp().sum(), 'whole batch'),
    ('cross_entropy', ce_naive, 'overflows'),
    ('cross_entropy', lambda s, t: -torch.log_softmax(s, -1)[torch.arange(len(t)), t].sum(), 'summed over the batch'),
    ('cross_entropy', lambda s, t: -torch.log_softmax(s, -1)[:, 0].mean(), 'first class'),
    ('cross_entropy', lambda s, t: -torch.log_softmax(s, -1).mean(), 'every class'),
    ('cross_entropy', lambda s, t: torch.log_softmax(s, -1)[torch.arange(len(t)), t].mean(), 'minus sign'),
    ('cross_entropy', lambda s, t: -torch.log_softmax(s, -1)[t].mean(), 'indexed the rows'),
    ('cross_entropy', lambda s, t: -torch.log_softmax(s.detach(), -1)[torch.arange(len(t)), t].mean(), 'not the right gradients'),
    ('cross_entropy', lambda s, t: -torch.log(torch.softmax(s, -1))[torch.arange(len(t)), t].exp().mean(), 'probability of the right class'),
]

# Issue 21: checkers for the optimizers with memory, Momentum and Adam (08 Optimizers).
import mnist37.optimizers as MO

class TorchMomentum(torch.optim.SGD):
    def __init__(self, params, lr, mom=0.9): super().__init__(params, lr=lr, momentum=mom)

class DictMomentum:
    "State in a dict keyed by parameter; zero_grad zeroes rather than forgets."
    def __init__(self, params, lr, mom=0.9): self.params, self.lr, self.mom, self.avgs = list(params), lr, mom, {}
    def step(self):
        with torch.no_grad():
            for p in self.params:
                self.avgs[p] = self.mom*self.avgs.get(p, 0.) + p.grad
                p -= self.lr*self.avgs[p]
    def zero_grad(self):
        for p in self.params: p.grad.zero_()

class ListMomentum:
    "State in a list, one average per parameter, updated in place."
    def __init__(self, params, lr, mom=0.9):
        self.params = list(params)
        self.lr, self.mom, self.avgs = lr, mom, [torch.zeros_like(p) for p in self.params]
    def step(self):
        for p, avg in zip(self.params, self.avgs):
            avg.mul_(self.mom).add_(p.grad)
            p.data.sub_(self.lr*avg)
    def zero_grad(self):
        for p in self.params: p.grad = None

class TorchAdam(torch.optim.Adam):
    def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8): super().__init__(params, lr=lr, betas=(mom, sqr_mom), eps=eps)

class ListAdam:
    "One step count for the optimizer; the bias correction folded into the step size, as PyTorch writes it."
    def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8):
        self.params, self.lr, self.mom, self.sqr_mom, self.eps, self.n = list(params), lr, mom, sqr_mom, eps, 0
        self.avgs, self.sqrs = [torch.zeros_like(p) for p in self.params], [torch.zeros_like(p) for p in self.params]
    def step(self):
        self.n += 1
        for p, avg, sqr in zip(self.params, self.avgs, self.sqrs):
            avg.mul_(self.mom).add_((1 - self.mom)*p.grad)
            sqr.mul_(self.sqr_mom).add_((1 - self.sqr_mom)*p.grad**2)
            p.data -= self.lr/(1 - self.mom**self.n)*avg/(sqr.sqrt()/math.sqrt(1 - self.sqr_mom**self.n) + self.eps)
    def zero_grad(self):
        for p in self.params: p.grad = None

class DictAdam:
    "A dict of state per parameter, keyed by its position."
    def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8):
        self.params, self.lr, self.h, self.state = list(params), lr, (mom, sqr_mom, eps), {}
    @torch.no_grad()
    def step(self):
        mom, sqr_mom, eps = self.h
        for i, p in enumerate(self.params):
            s = self.state.setdefault(i, dict(n=0, avg=torch.zeros_like(p), sqr=torch.zeros_like(p)))
            s['n'] += 1
            s['avg'] = mom*s['avg'] + (1 - mom)*p.grad
            s['sqr'] = sqr_mom*s['sqr'] + (1 - sqr_mom)*p.grad**2
            p -= self.lr*(s['avg']/(1 - mom**s['n']))/((s['sqr']/(1 - sqr_mom**s['n'])).sqrt() + eps)
    def zero_grad(self):
        for p in self.params: p.grad = None

def momentum_like(update, per_param=True, keep_params=True):
    "A momentum class whose per-parameter rule is `update(avg, grad, mom) -> (new avg, avg to step with)`."
    class Wrong:
        def __init__(self, params, lr, mom=0.9):
            self.params, self.lr, self.mom = list(params) if keep_params else params, lr, mom
            self.avgs = {}
        def step(self):
            for i, p in enumerate(self.params):
                key = i if per_param else 0
                new, used = update(self.avgs.get(key, 0.), p.grad, self.mom)
                self.avgs[key] = new
                p.data -= self.lr*used
        def zero_grad(self):
            for p in self.params: p.grad = None
    return Wrong

def adam_like(debias=True, wrong_term=False, eps_inside=False, sqr_after=False, per_param=True):
    "An Adam class with one of the usual mistakes."
    class Wrong:
        def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8):
            self.params, self.lr, self.h, self.state = list(params), lr, (mom, sqr_mom, eps), {}
        def step(self):
            mom, sqr_mom, eps = self.h
            for i, p in enumerate(self.params):
                s = self.state.setdefault(i if per_param else 0, dict(n=0, avg=0., sqr=0.))
                s['n'] += 1
                s['avg'] = (1 - mom)*s['avg'] + mom*p.grad if wrong_term else mom*s['avg'] + (1 - mom)*p.grad
                old_sqr, s['sqr'] = s['sqr'], sqr_mom*s['sqr'] + (1 - sqr_mom)*p.grad**2
                avg, sqr = s['avg'], torch.as_tensor(old_sqr if sqr_after else s['sqr'])
                if debias: avg, sqr = avg/(1 - mom**s['n']), sqr/(1 - sqr_mom**s['n'])
                p.data -= self.lr*avg/((sqr + eps).sqrt() if eps_inside else sqr.sqrt() + eps)
        def zero_grad(self):
            for p in self.params: p.grad = None
    return Wrong

OPT_RIGHT = [('Momentum', f) for f in (MO.Momentum, TorchMomentum, DictMomentum, ListMomentum)] + \
            [('Adam', f) for f in (MO.Adam, TorchAdam, ListAdam, DictAdam)]
OPT_WRONG = [
    ('Momentum', momentum_like(lambda avg, g, mom: (mom*avg + g, mom*avg + g), keep_params=False), 'generator'),
    ('Momentum', lambda params, lr, mom=0.9: torch.optim.SGD(params, lr), 'plain SGD steps'),
    ('Momentum', momentum_like(lambda avg, g, mom: (mom*avg + g, mom*avg + g), per_param=False), 'one average for all the parameters'),
    ('Momentum', momentum_like(lambda avg, g, mom: (avg + mom*g, avg + mom*g)), 'mom on the new gradient'),
    ('Momentum', momentum_like(lambda avg, g, mom: (mom*avg + (1-mom)*g, mom*avg + (1-mom)*g)), 'averages with (1-mom)*grad'),
    ('Momentum', momentum_like(lambda avg, g, mom: (mom*avg + g, avg)), 'before adding this step'),
    ('Momentum', momentum_like(lambda avg, g, mom: (0.9*avg + g, 0.9*avg + g)), 'ignores the mom'),
    ('Adam', adam_like(debias=False), 'no bias correction'),
    ('Adam', adam_like(wrong_term=True), 'mom on the wrong term'),
    ('Adam', adam_like(eps_inside=True), 'eps inside the square root'),
    ('Adam', adam_like(sqr_after=True), 'squared gradients from before'),
    ('Adam', adam_like(per_param=False), 'one pair of averages for all the parameters'),
    ('Adam', lambda params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8: torch.optim.Adam(params, lr, betas=(sqr_mom, mom), eps=eps), 'swapped mom and sqr_mom'),
    ('Adam', TorchMomentum, 'as Adam does'),
]

# Every right answer passes and every known mistake gets its message: the chapter's functions and the optimizers.
@pytest.mark.parametrize('name,f', RIGHT + OPT_RIGHT, ids=[f'{n}-{i}' for i, (n, _) in enumerate(RIGHT + OPT_RIGHT)])
def test_a_right_answer_passes(name, f):
    ok, line = verdict(f, name)
    mark = '·' if f is CHECKERS[name].ref else '✓'  # mnist37's own passes, and is said to be mnist37's
    assert ok and line.startswith(f'{mark} {name}: '), line

@pytest.mark.parametrize('name,f,words', WRONG + OPT_WRONG, ids=[f'{n}-{w}' for n, _, w in WRONG + OPT_WRONG])
def test_a_known_mistake_gets_its_message(name, f, words):
    ok, line = verdict(f, name)
    assert not ok and line.startswith(f'✗ {name}: {name} ') and words in line, line

def test_a_stub_optimizer_is_not_yet_written():
    class Adam:
        def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8): raise NotImplementedError
    assert verdict(Adam) == (False, '… Adam: not yet written')

# Replaces the test of the same name above (this file is appended to, not edited): CHECKERS now ends with the two
# optimizers with memory, and every checker still has right and wrong answers here.
def test_every_checked_function_has_right_and_wrong_cases():
    assert list(CHECKERS) == ['init_params', 'linear1', 'mnist_loss', 'calc_grad', 'train_epoch', 'batch_accuracy',
                              'validate_epoch', 'mnist_distance', 'BasicOptim', 'simple_net', 'softmax', 'cross_entropy',
                              'Momentum', 'Adam']
    right, wrong = RIGHT + OPT_RIGHT, WRONG + OPT_WRONG
    assert {n for n, _ in right} == {n for n, _, _ in wrong} == set(CHECKERS)

# Issue 30: every promised behaviour checked (train_epoch's and calc_grad's return values, a number from validate_epoch),
# inputs left as they came, and each message naming the real mistake. Each case says what its message must say, and
# what it must not say (the wrong idea an earlier round blamed).
def epoch_returning(returned, tensors=False):
    "A train_epoch that trains right and returns `returned(losses)`, `losses` being `[(loss, batch size)]` (tensors if `tensors`)."
    def train_epoch(model, lr, params, dl):
        losses = []
        for xb, yb in dl:
            loss = T.calc_grad(xb, yb, model)
            for p in params: p.data -= p.grad*lr; p.grad.zero_()
            losses.append((loss if tensors else loss.item(), len(xb)))
        return returned(losses)
    return train_epoch

def zeroes_weights(xb, weights, bias):
    weights.zero_()
    return xb@weights + bias
def zeroes_images(a, b):
    a.zero_(); b.zero_()
    return (a - b).abs().mean((-1, -2))
def overwrites_targets(xb, yb):
    yb[:] = (xb > 0).long()
    return torch.tensor(1.)
def softmax_in_place(x):
    x -= x.max(-1, keepdim=True).values
    return x.exp()/x.exp().sum(-1, keepdim=True)
def forgot_return(predictions, targets):
    predictions = predictions.sigmoid()
    torch.where(targets==1, 1-predictions, predictions).mean()
def only_pass(predictions, targets): pass

class ByHandAdam:
    "Adam written out with lists, with one of the usual mistakes (or none)."
    def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-8):
        self.params, self.lr, self.mom, self.sqr_mom, self.eps, self.n = list(params), lr, mom, sqr_mom, eps, 0
        self.avgs, self.sqrs = [torch.zeros_like(p) for p in self.params], [torch.zeros_like(p) for p in self.params]
    def zero_grad(self):
        for p in self.params: p.grad = None
    def step(self):
        self.n += 1
        with torch.no_grad():
            for i, p in enumerate(self.params): self.update(i, p, self.n)
    def update(self, i, p, n):
        self.avgs[i] = self.mom*self.avgs[i] + (1 - self.mom)*p.grad
        self.sqrs[i] = self.sqr_mom*self.sqrs[i] + (1 - self.sqr_mom)*p.grad**2
        p -= self.lr*(self.avgs[i]/(1 - self.mom**n))/((self.sqrs[i]/(1 - self.sqr_mom**n)).sqrt() + self.eps)
class CountFrom0Adam(ByHandAdam):  # n is added to after the step uses it
    def update(self, i, p, n): super().update(i, p, n - 1)
class CountAheadAdam(ByHandAdam):  # n starts at 1 and is added to before the first step
    def update(self, i, p, n): super().update(i, p, n + 1)
class FastaiEpsAdam(ByHandAdam):
    def __init__(self, params, lr, mom=0.9, sqr_mom=0.999, eps=1e-5): super().__init__(params, lr, mom, sqr_mom, eps)
class NoRootAdam(ByHandAdam):
    def update(self, i, p, n):
        self.avgs[i] = self.mom*self.avgs[i] + (1 - self.mom)*p.grad
        self.sqrs[i] = self.sqr_mom*self.sqrs[i] + (1 - self.sqr_mom)*p.grad**2
        p -= self.lr*(self.avgs[i]/(1 - self.mom**n))/(self.sqrs[i]/(1 - self.sqr_mom**n) + self.eps)
class LrTwiceAdam(ByHandAdam):
    def update(self, i, p, n):
        lr = self.lr
        self.lr = lr*lr
        super().update(i, p, n)
        self.lr = lr
class StoresDebiasedAdam(ByHandAdam):
    def update(self, i, p, n):
        self.avgs[i] = (self.mom*self.avgs[i] + (1 - self.mom)*p.grad)/(1 - self.mom**n)
        self.sqrs[i] = (self.sqr_mom*self.sqrs[i] + (1 - self.sqr_mom)*p.grad**2)/(1 - self.sqr_mom**n)
        p -= self.lr*self.avgs[i]/(self.sqrs[i].sqrt() + self.eps)
class SqrtInPlaceAdam(ByHandAdam):
    def update(self, i, p, n):
        self.avgs[i].mul_(self.mom).add_((1 - self.mom)*p.grad)
        self.sqrs[i].mul_(self.sqr_mom).add_((1 - self.sqr_mom)*p.grad**2)
        p -= self.lr*(self.avgs[i]/(1 - self.mom**n))/(self.sqrs[i].sqrt_()/math.sqrt(1 - self.sqr_mom**n) + self.eps)
class EfficientAdam(ByHandAdam):  # the Adam paper's "efficient form", as TensorFlow writes it: a right Adam
    def update(self, i, p, n):
        self.avgs[i] = self.mom*self.avgs[i] + (1 - self.mom)*p.grad
        self.sqrs[i] = self.sqr_mom*self.sqrs[i] + (1 - self.sqr_mom)*p.grad**2
        lr = self.lr*math.sqrt(1 - self.sqr_mom**n)/(1 - self.mom**n)
        p -= lr*self.avgs[i]/(self.sqrs[i].sqrt() + self.eps)

RIGHT_30 = [('Adam', EfficientAdam), ('Adam', ByHandAdam),
            ('train_epoch', epoch_returning(lambda ls: (torch.tensor([l for l, n in ls])*torch.tensor([float(n) for l, n in ls])).sum().item()/sum(n for l, n in ls))),
            ('validate_epoch', lambda model, dl: float(torch.stack([T.batch_accuracy(model(x), y) for x, y in dl]).mean()))]
WRONG_30 = [
    ('train_epoch', epoch_returning(lambda ls: 12345.0), "trains as mnist37's does, but returned 12345.0", 'generator'),
    ('train_epoch', epoch_returning(lambda ls: ls[-1][0]), "returned the last batch's loss", 'generator'),
    ('train_epoch', epoch_returning(lambda ls: sum(l for l, n in ls)/len(ls)), 'each batch counted once', 'generator'),
    ('train_epoch', epoch_returning(lambda ls: sum(l*256 for l, n in ls)/(256*len(ls))), 'each batch counted once', 'generator'),
    ('train_epoch', epoch_returning(lambda ls: sum(l for l, n in ls)/len(ls), tensors=True), 'not a number', 'generator'),
    ('train_epoch', epoch(twice=True), 'somewhere else', 'generator'),
    ('validate_epoch', lambda model, dl: torch.stack([T.batch_accuracy(model(x), y) for x, y in dl]).mean(), 'not a number', 'None'),
    ('softmax', softmax_in_place, 'changed its argument x in place', 'overflow'),
    ('linear1', zeroes_weights, 'changed its argument weights in place', 'shape'),
    ('mnist_distance', zeroes_images, 'changed its argument a in place', 'absolute'),
    ('batch_accuracy', overwrites_targets, 'changed its argument yb in place', 'where mnist37 gives'),
    ('batch_accuracy', lambda xb, yb: ((xb < 0) == yb).float().mean(), 'the wrong way round', 'every image a three'),
    ('batch_accuracy', lambda xb, yb: ((xb > 0.6) == yb).float().mean(), 'where mnist37 gives', 'raw scores at 0.5'),
    ('batch_accuracy', lambda xb, yb: ((xb.sigmoid().sigmoid() > 0.5) == yb).float().mean(), 'calls every image a three', 'compare it with 0.5'),
    ('mnist_loss', forgot_return, 'returned None', '.item()'), ('mnist_loss', only_pass, 'returned None', '.item()'),
    ('linear1', lambda xb, weights, bias: xb@weights - bias, 'subtracted the bias', 'one score per image'),
    ('simple_net', lambda xb, w1, b1, w2, b2: (xb@w1 + b1).abs()@w2 + b2, 'uses abs between the layers', 'not linear, ReLU'),
    ('simple_net', lambda xb, w1, b1, w2, b2: (torch.relu(xb@w1) + b1)@w2 + b2, 'ReLU before adding the bias', 'not linear, ReLU'),
    ('simple_net', lambda xb, w1, b1, w2, b2: torch.relu(xb@w1)@w2 + b1, 'adds b1', 'not linear, ReLU'),
    ('softmax', lambda x: (x - x.max()).exp()/(x - x.max()).exp().sum(-1, keepdim=True), 'one maximum for the whole batch', 'overflow'),
    ('cross_entropy', lambda s, t: -torch.log(torch.softmax(s, -1))[torch.arange(len(t)), t].mean(), 'log(0)', 'overflow'),
    ('cross_entropy', lambda s, t: -D.softmax(s)[torch.arange(len(t)), t].log().mean(), 'log(0)', 'overflow'),
    ('init_params', lambda size, std=1.0: (torch.randn(size) + std).requires_grad_(), 'adds std', 'between 0 and 1'),
    ('mnist_distance', lambda a, b: (a - b).abs().mean((1, 2)), 'axes 1 and 2', 'out of range'),
    ('Adam', CountFrom0Adam, 'one too low', 'as Adam does'), ('Adam', CountAheadAdam, 'one too high', 'as Adam does'),
    ('Adam', FastaiEpsAdam, 'eps=1e-5', 'as Adam does'), ('Adam', NoRootAdam, 'not by its square root', 'as Adam does'),
    ('Adam', LrTwiceAdam, 'lr twice', 'as Adam does'), ('Adam', StoresDebiasedAdam, 'stores the bias-corrected', 'as Adam does'),
    ('Adam', SqrtInPlaceAdam, 'square root in place', 'as Adam does'),
]

@pytest.mark.parametrize('name,f', RIGHT_30, ids=[f'{n}-{i}' for i, (n, _) in enumerate(RIGHT_30)])
def test_a_right_answer_of_round_three_passes(name, f):
    ok, line = verdict(f, name)
    assert ok and line.startswith(f'✓ {name}: '), line

@pytest.mark.parametrize('name,f,words,not_words', WRONG_30, ids=[f'{n}-{w}' for n, _, w, _ in WRONG_30])
def test_a_mistake_of_round_three_is_named_and_nothing_else_blamed(name, f, words, not_words):
    ok, line = verdict(f, name)
    assert not ok and line.startswith(f'✗ {name}: {name} ') and words in line and not_words not in line, line

def test_the_efficient_adam_is_accepted_and_said_to_differ():
    assert verdict(EfficientAdam, 'Adam')[1] == ("✓ Adam: 3 checks passed (the Adam paper's efficient form, with eps added "
                                                 'to the root of the uncorrected average: Adam up to where eps sits)')

def test_mnist37s_own_is_named_whether_used_as_it_is_or_wrapped():
    def mnist_loss(predictions, targets): return M.mnist_loss(predictions, targets)
    class Adam(MO.Adam): pass
    assert verdict(M.mnist_loss) == (True, "· mnist_loss: this is mnist37's own mnist_loss, so there is nothing of yours to check")
    assert verdict(mnist_loss) == (True, "· mnist_loss: 5 checks passed, but your mnist_loss calls mnist37's own, so there "
                                         'is nothing of yours to check')
    assert verdict(Adam)[1].startswith("· Adam: 3 checks passed, but your Adam calls mnist37's own")

def test_every_hint_ends_with_one_hint():  # the part after 'Hint: ' is what a generic message (a shape, an error) ends with
    assert all(c.hint.count('Hint: ') == 1 for c in CHECKERS.values()), [n for n, c in CHECKERS.items() if c.hint.count('Hint: ') != 1]

# Replaces the test of the same name above (this file is appended to, not edited): CHECKERS holds the questionnaire's
# seven functions too, whose right and wrong answers are in tests/test_questions.py: sigmoid and relu before the
# chapter's functions that may call a learner's own, the other five at the end.
import inspect
from mnist37.question_checkers import QUESTION_CHECKERS

def test_every_checked_function_has_right_and_wrong_cases():
    assert list(CHECKERS) == ['init_params', 'linear1', 'sigmoid', 'mnist_loss', 'calc_grad', 'train_epoch', 'batch_accuracy',
                              'validate_epoch', 'mnist_distance', 'BasicOptim', 'relu', 'simple_net', 'softmax', 'cross_entropy',
                              'Momentum', 'Adam', 'double_odds', 'rmse', 'mean_abs_diff', 'bottom_right', 'pair_up']
    right, wrong = RIGHT + OPT_RIGHT, WRONG + OPT_WRONG
    assert {n for n, _ in right} == {n for n, _, _ in wrong} == set(CHECKERS) - set(QUESTION_CHECKERS)

def test_every_checker_comes_after_the_functions_it_calls():  # `mnist37 check` judges in this order, and blames a callee judged earlier
    names = list(CHECKERS)
    late = [(n, sorted(set(c.calls or {}) - set(names[:i]))) for i, (n, c) in enumerate(CHECKERS.items())]
    assert [(n, called) for n, called in late if called] == []
    assert {n for c in CHECKERS.values() for n in c.calls or {}} == {'sigmoid', 'mnist_loss', 'calc_grad', 'batch_accuracy', 'relu', 'softmax'}

def test_every_reference_names_its_arguments():  # an argument changed in place is named by the reference's parameter
    assert [n for n, c in CHECKERS.items() if not list(inspect.signature(c.ref).parameters)] == []
