"""The book's own code (fastbook chapter 4), kept as the chapter writes it: the reference that mnist37 is measured
against (bench.py) and checked against (tests/test_seed_match.py).

As in the chapter's notebook, the functions read module-level globals: set `weights`, `bias`, `dl` and `valid_dl`
on this module before calling them.
"""
import torch
from PIL import Image

weights = bias = dl = valid_dl = None  # set by the caller, as the notebook's cells do

def load(path):
    "The chapter's loading: one PIL open per file, stack, scale, flatten; `(train_x, train_y, valid_x, valid_y)`."
    from fastai.torch_core import tensor  # the book's `tensor`, which takes a PIL image
    from fastcore.xtras import Path  # fastcore's Path has the book's .ls()
    path = Path(path)
    threes = (path/'train'/'3').ls().sorted()
    sevens = (path/'train'/'7').ls().sorted()
    seven_tensors = [tensor(Image.open(o)) for o in sevens]
    three_tensors = [tensor(Image.open(o)) for o in threes]
    stacked_sevens = torch.stack(seven_tensors).float()/255
    stacked_threes = torch.stack(three_tensors).float()/255
    train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28*28)
    train_y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)
    valid_3_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'3').ls()]).float()/255
    valid_7_tens = torch.stack([tensor(Image.open(o)) for o in (path/'valid'/'7').ls()]).float()/255
    valid_x = torch.cat([valid_3_tens, valid_7_tens]).view(-1, 28*28)
    valid_y = tensor([1]*len(valid_3_tens) + [0]*len(valid_7_tens)).unsqueeze(1)
    return train_x, train_y, valid_x, valid_y

def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()

def linear1(xb): return xb@weights + bias

def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets==1, 1-predictions, predictions).mean()

def calc_grad(xb, yb, model):
    preds = model(xb)
    loss = mnist_loss(preds, yb)
    loss.backward()

def train_epoch(model, lr, params):
    for xb, yb in dl:
        calc_grad(xb, yb, model)
        for p in params:
            p.data -= p.grad*lr
            p.grad.zero_()

def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds>0.5) == yb
    return correct.float().mean()

def validate_epoch(model):
    accs = [batch_accuracy(model(xb), yb) for xb, yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)

def simple_net():
    "The chapter's first neural net, as the book builds it for its `Learner`."
    from torch import nn
    return nn.Sequential(nn.Linear(28*28, 30), nn.ReLU(), nn.Linear(30, 1))

def learner_fit(dl, valid_dl, model, epochs, lr):
    "The chapter's last step: fastai's `Learner` with SGD, `mnist_loss` and `batch_accuracy`; the final accuracy."
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import SGD
    learn = Learner(DataLoaders(dl, valid_dl), model, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    with learn.no_logging(): learn.fit(epochs, lr)  # no table printed (no progress bar either: fastai.callback.progress is not imported)
    return round(float(learn.recorder.values[-1][-1]), 4)
