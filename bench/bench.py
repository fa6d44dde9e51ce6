"""Benchmark mnist37 against the book's own recipe (fastbook chapter 4), on the same data with the same seed.

    python bench/bench.py [--data PATH] [--reps 5] [--process]

Every measurement runs in a fresh child process, so each one's peak resident memory (ru_maxrss) is its own. Times are
medians over --reps repetitions. Prints one markdown table, ready for the README. Run by hand; not part of the tests.
`--process` measures only the whole processes (`mnist37 train` against the floor, imports included): the last rows.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'data'/'mnist_sample.tgz'

# ---- children: each prints one JSON line ---------------------------------------------------------------------------
def book_train(data, epochs=20, lr=1., seed=42):
    "The book's training: lists of (x, y) tuples in fastai DataLoaders, then its train_epoch and validate_epoch."
    import torch
    from fastai.data.load import DataLoader
    import book
    train_x, train_y, valid_x, valid_y = data
    dset, valid_dset = list(zip(train_x, train_y)), list(zip(valid_x, valid_y))
    torch.manual_seed(seed)
    book.weights, book.bias = book.init_params((28*28, 1)), book.init_params(1)
    book.dl = DataLoader(dset, batch_size=256, shuffle=True)
    book.valid_dl = DataLoader(valid_dset, batch_size=256)
    for i in range(epochs):
        book.train_epoch(book.linear1, lr, (book.weights, book.bias))
        acc = book.validate_epoch(book.linear1)
    return acc

def mnist37_path(kind:str):
    "mnist37's path for `kind`, as `mnist37 train` runs it: `train_model` at the book's epochs and learning rate for it."
    def train(data, seed=42):
        from mnist37.checkpoint import KINDS
        from mnist37.run import train_model
        k = KINDS[kind]
        return train_model(k, data, k.epochs, k.lr, seed=seed).history[-1]['valid_acc']
    return train

def book_net(data, epochs=40, lr=0.1, seed=42):
    "The book's simple_net: `nn.Sequential` trained by fastai's `Learner` over lists of (x, y) tuples in DataLoaders."
    import torch
    from fastai.data.load import DataLoader
    import book
    train_x, train_y, valid_x, valid_y = data
    torch.manual_seed(seed)
    dl = DataLoader(list(zip(train_x, train_y)), batch_size=256, shuffle=True)
    valid_dl = DataLoader(list(zip(valid_x, valid_y)), batch_size=256)
    return book.learner_fit(dl, valid_dl, book.simple_net(), epochs, lr)

def floor_net(data, epochs=40, lr=0.1, seed=42):
    "The floor for the net: the same math as a bare loop."
    import math, torch
    train_x, train_y, valid_x, valid_y = data
    g = torch.Generator().manual_seed(seed)
    u = lambda n_in, *size: ((torch.rand(size, generator=g)*2 - 1)/math.sqrt(n_in)).requires_grad_()
    w1, b1, w2, b2 = u(784, 784, 30), u(784, 30), u(30, 30, 1), u(30, 1)
    params, zero, n = (w1, b1, w2, b2), torch.tensor(0.), len(train_x)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, 256):
            idx = perm[i:i+256]
            p = ((train_x.index_select(0, idx)@w1 + b1).max(zero)@w2 + b2).sigmoid()
            torch.where(train_y.index_select(0, idx)==1, 1-p, p).mean().backward()
            for q in params: q.data -= q.grad*lr; q.grad.zero_()
        with torch.no_grad():
            accs = [((((valid_x[i:i+256]@w1 + b1).max(zero)@w2 + b2).sigmoid() > 0.5) == valid_y[i:i+256]).float().mean()
                    for i in range(0, len(valid_x), 256)]
            acc = round(torch.stack(accs).mean().item(), 4)
    return acc

def floor_train(data, epochs=20, lr=1., seed=42):
    "The floor: the same math as a bare loop over tensor slices, no functions, no per-batch Python beyond the step."
    import torch
    train_x, train_y, valid_x, valid_y = data
    g = torch.Generator().manual_seed(seed)
    w = torch.randn((784, 1), generator=g).requires_grad_()
    b = torch.randn(1, generator=g).requires_grad_()
    n = len(train_x)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, 256):
            idx = perm[i:i+256]
            p = (train_x.index_select(0, idx)@w + b).sigmoid()
            torch.where(train_y.index_select(0, idx)==1, 1-p, p).mean().backward()
            w.data -= w.grad*lr; b.data -= b.grad*lr
            w.grad.zero_(); b.grad.zero_()
        with torch.no_grad():
            accs = [(((valid_x[i:i+256]@w + b).sigmoid() > 0.5) == valid_y[i:i+256]).float().mean()
                    for i in range(0, len(valid_x), 256)]
            acc = round(torch.stack(accs).mean().item(), 4)
    return acc

def child(kind, folder, reps):
    "Run one measurement `reps` times in this process; print times (s) and the last accuracy as JSON."
    times, acc = [], None
    if kind == 'load_book':
        import book
        for _ in range(reps):
            t = time.perf_counter(); book.load(folder); times.append(time.perf_counter() - t)
    elif kind in ('load_cold', 'load_cached'):
        from mnist37.data import load_mnist_sample
        cache = Path(tempfile.mkdtemp())
        if kind == 'load_cached': load_mnist_sample(folder, cache_dir=cache)
        for i in range(reps):
            c = cache if kind == 'load_cached' else cache/str(i)
            t = time.perf_counter(); load_mnist_sample(folder, cache_dir=c); times.append(time.perf_counter() - t)
    else:
        train = {'train_book': book_train, 'train_mnist37': mnist37_path('linear'), 'train_floor': floor_train,
                 'net_book': book_net, 'net_mnist37': mnist37_path('net'), 'net_floor': floor_net}[kind]
        if kind in ('train_book', 'net_book'):
            import book
            data = book.load(folder)
        else:
            from mnist37.data import load_mnist_sample
            data = load_mnist_sample(folder, cache_dir=False)
        for _ in range(reps):
            t = time.perf_counter(); acc = train(data); times.append(time.perf_counter() - t)
    print(json.dumps({'times': times, 'acc': acc}))

# The floor as one process: torch's import, the same tensors from mnist37's cache, the bare loop; nothing saved.
# {freeze} is '' or FREEZE: what the `mnist37` program does once torch is imported (notebook 99, "A process of its own").
FREEZE = "import gc; gc.freeze()\n"
FLOOR_SCRIPT = ("import torch, sys; sys.path.insert(0, {bench!r})\n{freeze}import bench\n"
                "from mnist37.data import load_mnist_sample\nprint(bench.floor_train(load_mnist_sample({folder!r})))")

# The book's notebook as one process: its imports (chapter 4 starts with these two), loading, 20 epochs.
BOOK_SCRIPT = ("from fastai.vision.all import *\nfrom fastbook import *\nimport sys; sys.path.insert(0, {bench!r})\n"
               "import bench, book\nprint(bench.book_train(book.load({folder!r})))")

# ---- parent ---------------------------------------------------------------------------------------------------------
def run(args, env=None):
    "Run a child process; its stdout, wall seconds, and peak resident memory in MB."
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (args, out)
    return out, time.perf_counter() - t, usage.ru_maxrss/1024

def print_rows(rows:dict):
    "The table's rows measured inside one process each: loading, training, accuracy, memory."
    lb, lc, lk = rows['load_book'], rows['load_cold'], rows['load_cached']
    print(f'| load 14,434 images (s) | {lb[0]:.3f} | {lc[0]:.3f} cold, {lk[0]:.3f} cached | | {lb[0]/lk[0]:.1f}× (cached) | |')
    tb, tm, tf = rows['train_book'], rows['train_mnist37'], rows['train_floor']
    print(f'| 20 epochs, training (s) | {tb[0]:.3f} | {tm[0]:.3f} | {tf[0]:.3f} | {tb[0]/tm[0]:.1f}× | {tm[0]/tf[0]:.2f}× |')
    print(f'| final valid accuracy | {tb[1]} | {tm[1]} | {tf[1]} | | |')
    print(f'| peak memory, training process (MB) | {tb[2]:.0f} | {tm[2]:.0f} | {tf[2]:.0f} | | |')
    nb, nm, nf = rows['net_book'], rows['net_mnist37'], rows['net_floor']
    print(f'| simple_net, 40 epochs at lr 0.1 (s): `Learner` vs `fit` | {nb[0]:.3f} | {nm[0]:.3f} | {nf[0]:.3f} | '
          f'{nb[0]/nm[0]:.1f}× | {nm[0]/nf[0]:.2f}× |')
    print(f'| simple_net final valid accuracy | {nb[1]} | {nm[1]} | {nf[1]} | | |')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=str(SHARED) if SHARED.exists() else None, help='MNIST_SAMPLE folder or .tgz')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--process', action='store_true', help='only the whole processes: the book, mnist37 train, the two floors')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--folder', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(a.child, a.folder, a.reps)
    from mnist37.data import find_mnist_sample
    cache = Path(tempfile.mkdtemp())
    src = find_mnist_sample(a.data, cache_dir=cache, download=False)
    folder = str(src.path)
    me = [sys.executable, __file__, '--folder', folder, '--reps', str(a.reps), '--child']
    rows = {}
    kinds = ('load_book', 'load_cold', 'load_cached', 'train_book', 'train_mnist37', 'train_floor', 'net_book', 'net_mnist37',
             'net_floor')
    for kind in () if a.process else kinds:
        out, _, rss = run(me + [kind])
        r = json.loads(out.strip().splitlines()[-1])
        rows[kind] = (statistics.median(r['times']), r['acc'], rss)
        print(f'{kind}: {rows[kind]}', file=sys.stderr, flush=True)
    # whole processes, imports included: the book's code vs `mnist37 train` (second run: its tensor cache is warm)
    book = [sys.executable, '-c', BOOK_SCRIPT.format(bench=str(Path(__file__).parent), folder=folder)]
    m37 = [str(Path(sys.executable).parent/'mnist37'), 'train', '--data', a.data, '--out', str(cache/'run'), '--no-download']
    env = {**os.environ, 'MNIST37_CACHE': str(cache)}
    run(m37, env)  # first run: extracts nothing new, builds the tensor cache
    here = str(Path(__file__).parent)
    floor = [sys.executable, '-c', FLOOR_SCRIPT.format(bench=here, folder=folder, freeze='')]
    frozen = [sys.executable, '-c', FLOOR_SCRIPT.format(bench=here, folder=folder, freeze=FREEZE)]
    commands = {'process_book': book, 'process_mnist37': m37, 'process_floor': floor, 'process_frozen': frozen}
    results = {name: [] for name in commands}
    for _ in range(a.reps):  # the four take turns, so that a change in the machine's load falls on all four alike
        for name, cmd in commands.items(): results[name].append(run(cmd, env))
    procs = {}
    for name, res in results.items():
        procs[name] = (statistics.median(r[1] for r in res), max(r[2] for r in res))
        print(f'{name}: {procs[name]}', file=sys.stderr, flush=True)
    import torch
    print(f'\nMNIST_SAMPLE from {src.how}; {os.cpu_count()} cores ({platform.processor() or platform.machine()}), '
          f'torch {torch.__version__}, Python {platform.python_version()}; medians of {a.reps} runs\n')
    print('| what | the book\'s code | mnist37 | floor | book / mnist37 | mnist37 / floor |')
    print('|---|---|---|---|---|---|')
    if not a.process: print_rows(rows)
    pb, pm, pf = procs['process_book'], procs['process_mnist37'], procs['process_floor']
    print(f'| whole process: load + 20 epochs, imports included (s) | {pb[0]:.2f} | {pm[0]:.2f} (`mnist37 train`, 2nd run) '
          f'| {pf[0]:.2f} | {pb[0]/pm[0]:.1f}× | {pm[0]/pf[0]:.2f}× |')
    print(f'| whole process, peak memory (MB) | {pb[1]:.0f} | {pm[1]:.0f} | {pf[1]:.0f} | | |')
    pz = procs['process_frozen']
    print(f'| the same, the floor calling `gc.freeze()` after importing torch, as `mnist37` does (s) | | {pm[0]:.2f} | {pz[0]:.2f} '
          f'| | {pm[0]/pz[0]:.2f}× |')

if __name__ == '__main__':
    main()
