"""The install (issue 24): pip goes straight to an answer, brings no web framework, and the bounded fastprogress still
draws fastai's progress bars. `.ci/run` runs tools/install_check.py on the README install's own pip output."""
import sys
import torch
from packaging.requirements import Requirement
from conftest import ROOT

sys.path.insert(0, str(ROOT/'tools'))
from install_check import DENIED, backtracked, denied, installed, settings_requirements, unmet

# Lines as pip 23.2 printed them in the install before the bounds (python-fasthtml: 35 releases rejected).
BACKTRACKING_LOG = """\
Collecting selenium (from mnist37==0.1.0)
INFO: pip is looking at multiple versions of selenium to determine which version is compatible with other requirements. This could take a while.
INFO: pip is looking at multiple versions of ghapi to determine which version is compatible with other requirements. This could take a while.
INFO: pip is still looking at multiple versions of ghapi to determine which version is compatible with other requirements. This could take a while.
INFO: pip is looking at multiple versions of python-fasthtml to determine which version is compatible with other requirements. This could take a while.
"""

def test_backtracking_is_read_from_pip_output():
    found = backtracked(BACKTRACKING_LOG)
    print(found)
    assert found == ['selenium', 'ghapi', 'python-fasthtml']
    assert backtracked(BACKTRACKING_LOG.splitlines()[0]) == []

def test_a_web_framework_is_found_among_installed_names():
    found = denied(['numpy', 'Starlette', 'python_fasthtml', 'fastprogress'])
    print(found)
    assert found == ['python-fasthtml', 'starlette']

def test_an_install_made_before_the_bounds_is_found():
    reqs = [Requirement('fastprogress>=1.0.3,<1.1'), Requirement('ghapi>=2.0.3,<2.0.4'), Requirement('fastcore<2')]
    found = unmet(reqs, {'fastprogress': '1.1.6', 'fastcore': '1.14.5'})
    print(found)
    assert found == ['fastprogress<1.1,>=1.0.3 is not met: fastprogress 1.1.6 is installed', 'ghapi<2.0.4,>=2.0.3 is not installed']

def test_the_packages_pip_backtracked_on_keep_an_upper_bound():
    bounded = {r.name: str(r.specifier) for r in settings_requirements() if any(s.operator == '<' for s in r.specifier)}
    print(bounded)
    assert {'fastprogress', 'fasttransform', 'ghapi', 'fastspec', 'selenium'} <= set(bounded)

def test_this_environment_has_no_web_framework():
    names = installed()
    found = denied(names)
    print(f'{len(names)} distributions installed; of {DENIED}: {found}')
    assert found == [], f'an install made before the bounds of issue 24? pip uninstall {" ".join(found)}'

def test_this_environment_meets_every_settings_requirement():
    found = unmet(settings_requirements(), installed())
    print(found)
    assert found == [], 'this environment is not the one settings.ini describes: pip install -e ".[dev]"'

def test_fastprogress_draws_fastais_progress_bars():
    from fastprogress.fastprogress import ProgressBar, progress_bar
    from fastai.callback.core import Callback
    from fastai.callback.progress import ProgressCallback
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.optimizer import SGD

    class BarSpy(Callback):
        "Records the bar ProgressCallback updates after each batch."
        order = ProgressCallback.order + 1
        def before_fit(self): self.bars = []
        def after_batch(self): self.bars.append(self.learn.progress.pbar)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    items = list(zip(x, x.sum(1, keepdim=True)))
    dls = DataLoaders(DataLoader(items, bs=8), DataLoader(items, bs=16))
    learn = Learner(dls, torch.nn.Linear(4, 1), loss_func=torch.nn.functional.mse_loss, opt_func=SGD, lr=0.1, cbs=BarSpy())
    torch.manual_seed(0)
    learn.fit(2)
    spy = learn.bar_spy
    print(f'{len(spy.bars)} batches, bars {type(spy.bars[0]).__name__}; epochs logged {len(learn.recorder.values)}')
    assert isinstance(learn.progress, ProgressCallback)
    assert len(spy.bars) == 2*(4+2) and all(isinstance(b, ProgressBar) for b in spy.bars)
    assert len(learn.recorder.values) == 2
    assert isinstance(progress_bar(range(3)), ProgressBar)
