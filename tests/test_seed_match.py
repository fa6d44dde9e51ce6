"""mnist37's functions against the book's own definitions (chapter 4), on the same inputs: same outputs, same gradients.

The book's versions read module-level `weights`, `bias`, `dl` and `valid_dl`; mnist37's take them as arguments.
"""
from functools import partial
import torch
from mnist37.model import init_params, linear1, mnist_loss
from mnist37.train import batch_accuracy, calc_grad, train_epoch, validate_epoch

# ---- the book's definitions, as the chapter writes them (they use the globals below) ----
def book_init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()
def book_linear1(xb): return xb@weights + bias
def book_mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets==1, 1-predictions, predictions).mean()
def book_calc_grad(xb, yb, model):
    preds = model(xb)
    loss = book_mnist_loss(preds, yb)
    loss.backward()
def book_train_epoch(model, lr, params):
    for xb, yb in dl:
        book_calc_grad(xb, yb, model)
        for p in params:
            p.data -= p.grad*lr
            p.grad.zero_()
def book_batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds>0.5) == yb
    return correct.float().mean()
def book_validate_epoch(model):
    accs = [book_batch_accuracy(model(xb), yb) for xb, yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)

def data(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g)
    y = (x[:, :392].mean(1, keepdim=True) > x[:, 392:].mean(1, keepdim=True)).long()
    return x, y

def batches(x, y, bs=64): return [(x[i:i+bs], y[i:i+bs]) for i in range(0, len(x), bs)]

def test_init_params_draws_the_same_numbers():
    torch.manual_seed(3); a = book_init_params((784, 1), std=0.5)
    torch.manual_seed(3); b = init_params((784, 1), std=0.5)
    assert torch.equal(a.detach(), b.detach()) and b.requires_grad

def test_same_outputs_gradients_and_training():
    global weights, bias, dl, valid_dl
    x, y = data()
    vx, vy = data(200, seed=1)
    dl, valid_dl = batches(x, y), batches(vx, vy)
    torch.manual_seed(0)
    weights, bias = book_init_params((784, 1)), book_init_params(1)
    w2, b2 = weights.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()
    model = partial(linear1, weights=w2, bias=b2)
    assert torch.equal(book_linear1(x), model(x))
    assert torch.equal(book_mnist_loss(book_linear1(x), y), mnist_loss(model(x), y))
    assert torch.equal(book_batch_accuracy(book_linear1(x), y), batch_accuracy(model(x), y))
    book_calc_grad(x[:4], y[:4], book_linear1)
    loss = calc_grad(x[:4], y[:4], model)
    assert torch.equal(weights.grad, w2.grad) and torch.equal(bias.grad, b2.grad)
    assert torch.equal(loss, book_mnist_loss(book_linear1(x[:4]), y[:4]))
    for p in (weights, bias, w2, b2): p.grad.zero_()
    assert book_validate_epoch(book_linear1) == validate_epoch(model, valid_dl)
    for epoch in range(3):
        book_train_epoch(book_linear1, 1., (weights, bias))
        train_epoch(model, 1., (w2, b2), dl)
        assert torch.equal(weights, w2) and torch.equal(bias, b2)
        assert book_validate_epoch(book_linear1) == validate_epoch(model, valid_dl)
