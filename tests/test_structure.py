"""The shape of the project: the chapter first, the plumbing under the hood, committed outputs free of machine paths."""
import json, re, subprocess, sys
from pathlib import Path
from conftest import ROOT

NBS = sorted((ROOT/'nbs').glob('*.ipynb'))
CHAPTER = [p for p in NBS if re.match(r'[0-4]\d_', p.name)]
UNDER_THE_HOOD = [p for p in NBS if re.match(r'9\d_', p.name)]
PLUMBING = ['tarfile', 'hashlib', 'tempfile', 'os.replace', 'os.scandir', 'signal']
MACHINE_PATH = re.compile(r'(?<![\w.~$])/(?:root|tmp|home|work)/[^\s\'"]*')
# What `from mnist37.all import *` gave before the data sources moved under the hood: none of it may go missing.
NAMES_BEFORE = {'Mnist37Error', 'check_lr', 'check_count', 'open_image', 'check_digit_image', 'atomic_write',
                'check_writable_dir', 'LAYOUT', 'IMAGE_SUFFIXES', 'default_cache_dir', 'check_layout', 'extract_tgz',
                'embedded_mnist_sample', 'DataSource', 'find_mnist_sample', 'image_files', 'read_digits',
                'load_mnist_sample', 'fastai_dls', 'init_params', 'linear1', 'mnist_loss', 'calc_grad', 'train_epoch',
                'batch_accuracy', 'validate_epoch', 'TensorBatches', 'fit'}

def cells(nb): return json.loads(nb.read_text())['cells']

def test_every_notebook_is_in_the_chapter_or_under_the_hood():
    assert CHAPTER and UNDER_THE_HOOD
    assert {p.name for p in NBS} == {p.name for p in CHAPTER + UNDER_THE_HOOD} | {'index.ipynb'}
    exported = {p.name: re.search(r'#\|\s*default_exp\s+(\w+)', '\n'.join(''.join(c['source']) for c in cells(p)))
                for p in NBS}
    hood = {p.name for p in UNDER_THE_HOOD}
    for module in ('checks', 'sources', 'plots', 'checkpoint', 'run', 'cli'):
        assert any(m and m.group(1) == module for n, m in exported.items() if n in hood), f'{module} is not under the hood'

def test_chapter_code_has_no_plumbing():
    for nb in CHAPTER:
        for i, c in enumerate(cells(nb)):
            if c['cell_type'] != 'code': continue
            src = ''.join(c['source'])
            found = [w for w in PLUMBING if re.search(rf'\b{re.escape(w)}\b', src)]
            assert not found, f'{nb.name} cell {i} uses {found}: move it under the hood (nbs/9*)'

def test_first_notebook_shows_a_figure_within_its_first_8_cells():
    first, = [p for p in NBS if p.name.startswith('00_')]
    assert any('image/png' in o.get('data', {}) for c in cells(first)[:8] for o in c.get('outputs', []))

def test_no_machine_path_in_committed_outputs_or_readme():
    for nb in NBS:
        for i, c in enumerate(cells(nb)):
            for o in c.get('outputs', []):
                text = ''.join(o.get('text', '')) + ''.join(''.join(v) for k, v in o.get('data', {}).items() if k.startswith('text/'))
                assert not MACHINE_PATH.search(text), f'{nb.name} cell {i} shows {MACHINE_PATH.search(text).group()}'
    assert not MACHINE_PATH.search((ROOT/'README.md').read_text())

def test_no_warnings_or_errors_in_committed_outputs():
    for nb in NBS:
        for i, c in enumerate(cells(nb)):
            for o in c.get('outputs', []):
                assert o.get('name') != 'stderr' and o['output_type'] != 'error', f'{nb.name} cell {i}: {o}'

def test_all_still_gives_every_name_it_gave_before():
    ns = {}
    exec('from mnist37.all import *', ns)
    assert NAMES_BEFORE <= set(ns), NAMES_BEFORE - set(ns)
    import mnist37.data as data  # and the names that moved to mnist37.sources still import from mnist37.data
    assert all(hasattr(data, n) for n in NAMES_BEFORE & {'LAYOUT', 'IMAGE_SUFFIXES', 'default_cache_dir', 'check_layout',
               'extract_tgz', 'embedded_mnist_sample', 'DataSource', 'find_mnist_sample', 'image_files'})

def test_index_links_every_notebook_in_reading_order():
    text = ''.join(''.join(c['source']) for c in cells(ROOT/'nbs'/'index.ipynb') if c['cell_type'] == 'markdown')
    linked = list(dict.fromkeys(re.findall(r'\]\(([\w.-]+\.ipynb)\)', text)))  # each at its first link
    assert linked == [p.name for p in CHAPTER + UNDER_THE_HOOD]

# Every parameter of every exported function has its docment: tests/test_docments.py, for every module.

def test_the_training_run_is_written_once():
    "Only mnist37.run makes the seeded shuffled batches of a run; everything else calls `train_model`."
    for py in (ROOT/'mnist37').glob('*.py'):
        if py.name in ('run.py', 'train.py', '_modidx.py'): continue
        assert not re.search(r'TensorBatches\([^)]*shuffle=True', py.read_text()), py.name
    assert 'train_model' in (ROOT/'bench'/'bench.py').read_text()

# The order of the README's "How the code is laid out": each module imports only modules before it in this list.
LAYERS = ['checks', 'file_sets', 'sources', 'tensor_cache', 'data', 'baseline', 'model', 'train', 'optim', 'nets', 'learner',
          'optimizers', 'digits', 'prepare', 'plots', 'checkpoint', 'run', 'behaviour', 'judge', 'loading', 'worker',
          'optim_checkers', 'question_checkers', 'train_checkers', 'exercises', 'draw_page', 'local_server', 'draw', 'cli']

def test_each_module_imports_only_modules_before_it():
    import ast
    found = {p.stem for p in (ROOT/'mnist37').glob('*.py')} - {'__init__', '_modidx', 'all'}
    assert found == set(LAYERS), found ^ set(LAYERS)
    for i, name in enumerate(LAYERS):
        tree = ast.parse((ROOT/'mnist37'/f'{name}.py').read_text())
        deps = {n.module.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module}
        assert deps <= set(LAYERS[:i]), f'mnist37.{name} imports {sorted(deps - set(LAYERS[:i]))}, which come after it'
