"""mnist37's functions against the book's own definitions (chapter 4), on the same inputs: same outputs, same gradients.

The book's code lives in bench/book.py, where it reads module-level `weights`, `bias`, `dl` and `valid_dl`, as in the
chapter; mnist37's functions take them as arguments.
"""
import sys
from functools import partial
import torch
from conftest import ROOT
from mnist37.model import init_params, linear1, mnist_loss
from mnist37.train import batch_accuracy, calc_grad, train_epoch, validate_epoch

sys.path.insert(0, str(ROOT/'bench'))
import book

def data(n, seed):
    "Random images whose label says which half of the pixels is brighter on average."
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g)
    return x, (x[:, :392].mean(1, keepdim=True) > x[:, 392:].mean(1, keepdim=True)).long()

def batches(x, y, bs=64): return [(x[i:i+bs], y[i:i+bs]) for i in range(0, len(x), bs)]

def test_init_params_draws_the_same_numbers():
    torch.manual_seed(3); a = book.init_params((784, 1), std=0.5)
    torch.manual_seed(3); b = init_params((784, 1), std=0.5)
    assert torch.equal(a.detach(), b.detach()) and b.requires_grad

def test_same_outputs_gradients_and_training():
    x, y = data(600, seed=0)
    vx, vy = data(200, seed=1)
    book.dl, book.valid_dl = batches(x, y), batches(vx, vy)
    torch.manual_seed(0)
    book.weights, book.bias = book.init_params((784, 1)), book.init_params(1)
    w, b = book.weights.detach().clone().requires_grad_(), book.bias.detach().clone().requires_grad_()
    model = partial(linear1, weights=w, bias=b)
    assert torch.equal(book.linear1(x), model(x))
    assert torch.equal(book.mnist_loss(book.linear1(x), y), mnist_loss(model(x), y))
    assert torch.equal(book.batch_accuracy(book.linear1(x), y), batch_accuracy(model(x), y))
    book.calc_grad(x[:4], y[:4], book.linear1)
    loss = calc_grad(x[:4], y[:4], model)
    assert torch.equal(book.weights.grad, w.grad) and torch.equal(book.bias.grad, b.grad)
    assert torch.equal(loss, book.mnist_loss(book.linear1(x[:4]), y[:4]))
    for p in (book.weights, book.bias, w, b): p.grad.zero_()
    assert book.validate_epoch(book.linear1) == validate_epoch(model, book.valid_dl)
    for epoch in range(3):
        book.train_epoch(book.linear1, 1., (book.weights, book.bias))
        train_epoch(model, 1., (w, b), book.dl)
        assert torch.equal(book.weights, w) and torch.equal(book.bias, b)
        assert book.validate_epoch(book.linear1) == validate_epoch(model, book.valid_dl)
