"""mnist37's `Learner` against the chapter's `fit` and fastai's `Learner`, on small random data: same batches, same
optimizer, loss and metric -> the same weights and the same recorded numbers."""
import re, warnings
from functools import partial
from types import SimpleNamespace
import pytest, torch
from torch import nn
from mnist37.checks import Mnist37Error
from mnist37.learner import Learner
from mnist37.model import init_params, linear1, mnist_loss
from mnist37.optim import BasicOptim
from mnist37.optimizers import Adam, Momentum
from mnist37.train import TensorBatches, batch_accuracy, fit, validate_epoch

def data(n, seed):
    "Random images whose label says which half of the pixels is brighter on average."
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g)
    return x, (x[:, :392].mean(1, keepdim=True) > x[:, 392:].mean(1, keepdim=True)).float()

X, Y = data(1000, 0)
VX, VY = data(300, 1)

def start(seed=0):
    g = torch.Generator().manual_seed(seed)
    return init_params((784, 1), generator=g), init_params(1, generator=g)

def linear(seed=0):
    w, b = start(seed)
    lin = nn.Linear(784, 1)
    with torch.no_grad(): lin.weight.copy_(w.T); lin.bias.copy_(b)
    return lin

def tensor_dls(seed=1, bs=64):
    return SimpleNamespace(train=TensorBatches(X, Y, bs=bs, shuffle=True, seed=seed), valid=TensorBatches(VX, VY, bs=bs))

def test_same_as_the_chapters_fit():
    w, b = start()
    hist = fit(partial(linear1, weights=w, bias=b), 0.5, (w, b), TensorBatches(X, Y, bs=64, shuffle=True, seed=1),
               TensorBatches(VX, VY, bs=64), epochs=3)
    learn = Learner(tensor_dls(), linear(), BasicOptim)
    rows = learn.fit(3, 0.5, show=False)
    assert max(abs(a['train_loss'] - b['train_loss']) for a, b in zip(rows, hist)) < 1e-6
    assert torch.allclose(learn.model.weight.T, w, atol=1e-5) and torch.allclose(learn.model.bias, b, atol=1e-5)
    assert (learn.model.weight.T - start()[0]).abs().max() > 1e-3  # it trained (1000 times the tolerance above)
    # fit averages batch accuracies; the learner counts each image once: the same when every batch is full
    full = Learner(SimpleNamespace(train=[], valid=TensorBatches(VX, VY, bs=100)), linear())
    assert abs(full.validate() - validate_epoch(partial(linear1, weights=start()[0], bias=start()[1]), TensorBatches(VX, VY, bs=100))) < 1e-4

def test_same_as_fastais_learner():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        from fastai.torch_core import set_seed
        from fastai.data.core import DataLoaders
        from fastai.data.load import DataLoader
        from fastai.learner import Learner as FastaiLearner
        from fastai.optimizer import SGD
    def dls():
        set_seed(7)
        return DataLoaders(DataLoader(list(zip(X, Y)), batch_size=64, shuffle=True), DataLoader(list(zip(VX, VY)), batch_size=64))
    ours = Learner(dls(), linear(), SGD, mnist_loss, batch_accuracy)
    rows = ours.fit(2, 0.5, show=False)
    theirs = FastaiLearner(dls(), linear(), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    with theirs.no_logging(): theirs.fit(2, lr=0.5)
    assert (ours.model.weight - theirs.model.weight).abs().max().item() < 1e-6
    assert (ours.model.bias - theirs.model.bias).abs().max().item() < 1e-6
    assert (ours.model.weight - linear().weight).abs().max().item() > 1e-3  # it trained
    assert [round(r['valid_acc'], 6) for r in rows] == [round(float(v[-1]), 6) for v in theirs.recorder.values]
    avg, smooth = 0., []  # fastai's train_loss: the debiased moving average of our batch losses, beta 0.98
    for n, loss in enumerate(ours.losses, 1):
        avg = 0.98*avg + 0.02*loss
        smooth.append(avg/(1 - 0.98**n))
    per_epoch = len(ours.losses)//2
    assert max(abs(smooth[e*per_epoch - 1] - v[0]) for e, v in zip((1, 2), theirs.recorder.values)) < 1e-5

def test_with_our_optimizers_as_with_torchs():
    a = Learner(tensor_dls(), linear(), partial(Adam, mom=0.8))
    a.fit(2, 0.01, show=False)
    b = Learner(tensor_dls(), linear(), lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.8, 0.999)))
    b.fit(2, 0.01, show=False)
    assert (a.model.weight - b.model.weight).abs().max().item() < 1e-5
    assert max(abs(x - y) for x, y in zip(a.losses, b.losses)) < 1e-6

def test_history_losses_and_the_printed_table(capsys):
    learn = Learner(tensor_dls(), linear(), Momentum)
    rows = learn.fit(2, 0.1)
    more = learn.fit(1, 0.1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'epoch  train_loss  valid_acc  seconds'
    assert all(re.fullmatch(r'\s+\d+\s+\d+\.\d{4}\s+\d\.\d{4}\s+\d+\.\d{3}', l) for l in out[1:3] + out[4:5]), out
    assert [r['epoch'] for r in learn.history] == [1, 2, 3] and learn.history == rows + more
    assert len(learn.losses) == 3*len(learn.dls.train) == 3*16
    assert set(rows[0]) == {'epoch', 'train_loss', 'valid_acc', 'seconds'}
    assert rows[-1]['train_loss'] < rows[0]['train_loss']

def test_weighted_validation_counts_each_image_once():
    model = nn.Linear(784, 1)
    learn = Learner(SimpleNamespace(train=[], valid=TensorBatches(VX, VY, bs=256)), model)  # batches of 256 and 44
    with torch.no_grad(): whole = batch_accuracy(model(VX), VY).item()
    assert abs(learn.validate() - whole) < 1e-6

def test_a_learning_rate_too_large_stops_with_a_message():
    with pytest.raises(Mnist37Error, match='training stopped at epoch 1: the loss became nan') as e:
        Learner(tensor_dls(), linear()).fit(1, 1e39, show=False)
    assert '\n' not in str(e.value)
