"""The notebooks as a reader meets them: every cell run in a real Jupyter kernel, outputs compared, pages in a browser.

nbdev_test runs cells in its own shell and skips `notest` cells; here each notebook runs top to bottom in an ipykernel
kernel, as a new user would (an empty home folder, no network), on the embedded default and, when there is one, on
MNIST_SAMPLE, with the arithmetic pinned as the committed outputs were made (PINNED in tools/notebooks.py). Its text
outputs must equal the committed ones (nbs/ holds the MNIST_SAMPLE run, tests/reference/embedded/ the embedded one),
timings aside, but for the numbers of a cell that states a tolerance (`# tolerance: 0.006 (why)`), which may move by that
much. The notebooks that train run once more as a learner's Jupyter runs them (LEARNER: the processor's own kernels,
two threads), compared with the same outputs and tolerances. A notebook whose two expected texts are the same
(nothing it prints depends on the data source) runs once, on MNIST_SAMPLE when there is one, and that run must give
both: nbdev_test has already run it on the embedded default, and a second kernel run would repeat the first. Opening
the rendered pages in headless Chromium is a separate test: skipped when Chromium and ChromeDriver are not on the
PATH, a failure when MNIST37_REQUIRE_BROWSER=1. With MNIST37_SCREENSHOTS=1 each page checked is also saved as a
full-page screenshot in tools/pages/, to look at.
"""
import functools, os, shutil, sys
from pathlib import Path
import nbformat, pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT/'tools'))
from notebooks import (LEARNER, REFERENCE, committed_outputs, compare_outputs, compare_text, execute, kernel_env, notebooks,
                       render_html, sample_tgz, text_outputs, tolerances)

SHOTS = ROOT/'tools'/'pages' if os.environ.get('MNIST37_SCREENSHOTS') == '1' else None  # screenshots (git-ignored)
# The figures a reader should see in each notebook, at the least: one digit, a grid of digits and the mean digits
# (00); the learning rates, the measurements, the fit as it improves and its loss (02); the sigmoid (03); the timing
# of a batch, the training curves and the learned weights (04); the ReLU, the four runs and the hidden units (06); the
# prepared digit (13); the helpers' examples (92). Index shows a saved figure (a linked image, not an output).
FIGURES = {'00_data.ipynb': 3, '02_sgd.ipynb': 4, '03_model.ipynb': 1, '04_training.ipynb': 3, '06_nets.ipynb': 3,
           '13_your_digit.ipynb': 1, '92_plots.ipynb': 3}
LINKED = {'index.ipynb': 1}
NBS = [p.name for p in notebooks()]
SOURCES = ['embedded', 'mnist_sample']

def expected_outputs(nb, source):
    "The committed text outputs, `{cell: text}`: nbs/ for MNIST_SAMPLE, tests/reference/embedded/ for the embedded default."
    ref = REFERENCE/f'{Path(nb).stem}.txt'
    assert source == 'mnist_sample' or ref.is_file(), f'no {ref.relative_to(ROOT)}: run python tools/notebooks.py reference'
    return committed_outputs(ROOT/'nbs'/nb, source == 'embedded')

def check_outputs(out:Path, nb:str, source:str, setting:str):
    "Assert that the executed notebook `out` printed the committed outputs of `nb` on `source`, within its tolerances."
    found = compare_outputs(text_outputs(out), expected_outputs(nb, source), tolerances(ROOT/'nbs'/nb))
    assert not found, (f'{nb} on {source}, {setting}, printed other outputs than the committed ones:\n  ' + '\n  '.join(found[:5]) +
                       '\nif the change is meant, rerun tools/notebooks.py run / reference; if the numbers move with the '
                       'processor or thread count, state a `# tolerance:` in the cell')

# The notebooks that print the same on both data sources: each runs in one kernel, for both sources' tests.
SAME_ON_BOTH = {nb for nb in NBS if (REFERENCE/f'{Path(nb).stem}.txt').is_file()
                and expected_outputs(nb, 'embedded') == expected_outputs(nb, 'mnist_sample')}
# A notebook's kernel run and its page checks share one worker (pytest -n 2 --dist loadgroup), so it runs once.
RUNS = [pytest.param(nb, s, marks=pytest.mark.xdist_group(nb if nb in SAME_ON_BOTH else f'{nb}:{s}'), id=f'{nb}-{s}')
        for nb in NBS for s in SOURCES]

@pytest.mark.xdist_group('probe')
def test_tests_of_one_group_share_a_worker(request):
    "pytest-xdist groups tests by adding '@group' to their ids; when that stops (issue 1386), each notebook runs twice."
    if getattr(request.config.option, 'loadgroup', False):  # in an xdist worker with --dist loadgroup
        assert request.node.nodeid.endswith('@probe'), f'{request.node.nodeid}: pytest-xdist no longer groups tests'

def find(*names):
    "The first of `names` on PATH (or the path itself), else None."
    return next((p for p in map(shutil.which, names) if p), None)

@pytest.fixture(scope='module')
def browser():
    chrome, driver_bin = find('chromium', 'chromium-browser', 'google-chrome'), find('chromedriver')
    if not (chrome and driver_bin):
        msg = 'no Chromium and ChromeDriver on PATH: apt-get install chromium chromium-driver to run the page checks'
        if os.environ.get('MNIST37_REQUIRE_BROWSER') == '1': pytest.fail(msg + ' (MNIST37_REQUIRE_BROWSER=1)')
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--window-size=1100,900',
              '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()

@pytest.fixture(scope='session')
def homes(tmp_path_factory):
    "One empty home folder per data source, shared by the notebooks run in this worker (caches fill once)."
    return {s: tmp_path_factory.mktemp(f'home-{s}') for s in SOURCES}

@functools.cache
def _executed(nb:str, source:str, home:Path) -> Path:
    data = None
    if source == 'mnist_sample':
        data = sample_tgz()
        if data is None: pytest.skip('no MNIST_SAMPLE archive here (set MNIST37_DATA to one)')
    work = home.parent/f'run-{source}'
    if not work.exists(): shutil.copytree(ROOT/'nbs', work)
    seconds = execute(work/nb, work/f'executed-{nb}', kernel_env(home, data))  # raises CellExecutionError if a cell fails
    print(f'{nb} on {source}: {seconds:.1f}s in a kernel')
    return work/f'executed-{nb}'

def executed(nb, source, homes):
    "Notebook `nb` run in a kernel on `source` (or, if it prints the same on both, on the one it ran on); its file."
    if source == 'mnist_sample' and sample_tgz() is None: pytest.skip('no MNIST_SAMPLE archive here (set MNIST37_DATA to one)')
    if nb in SAME_ON_BOTH: source = 'mnist_sample' if sample_tgz() else 'embedded'
    return _executed(nb, source, homes[source])

def image_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return sum('image/png' in o.get('data', {}) for c in nb.cells if c.cell_type == 'code' for o in c.outputs)

@pytest.mark.parametrize('nb,source', RUNS)
def test_notebook_runs_in_a_kernel_with_the_committed_outputs(nb, source, homes):
    out = executed(nb, source, homes)
    assert image_outputs(out) >= FIGURES.get(nb, 0)
    check_outputs(out, nb, source, 'pinned')

# The notebooks whose numbers depend on the order of floating-point operations (they train): each runs once more, in a
# kernel set up as a learner's Jupyter is (LEARNER: the processor's own kernels, two threads), on MNIST_SAMPLE when
# there is one: the data most learners have, whose 2,038 validation images make a tolerance of a few images meaningful.
# (nbdev_test runs every notebook on the embedded default with the processor's own kernels too, for its asserts.)
NUMERIC = ['04_training.ipynb', '05_optimizer.ipynb', '06_nets.ipynb', '07_learner.ipynb', '08_optimizers.ipynb',
           '11_ten_digits.ipynb', '94_run.ipynb', '99_cli.ipynb']

@pytest.mark.parametrize('nb', NUMERIC)
def test_numeric_notebook_in_a_learners_setting_prints_the_committed_outputs_within_tolerance(nb, homes):
    source = 'mnist_sample' if sample_tgz() else 'embedded'
    work = homes[source].parent/f'learner-{source}'
    if not work.exists(): shutil.copytree(ROOT/'nbs', work)
    seconds = execute(work/nb, work/f'executed-{nb}', kernel_env(homes[source], sample_tgz(), LEARNER))
    print(f'{nb} on {source}, learner setting: {seconds:.1f}s in a kernel')
    check_outputs(work/f'executed-{nb}', nb, source, 'the learner setting ' + ' '.join(f'{k}={v}' for k, v in LEARNER.items()))

def test_outputs_compare_exactly_or_within_the_stated_tolerance():
    table = 'model   valid_acc\nlinear1    0.9853\nnet        0.9848 (-0.0005)\n'
    assert compare_text(table, table) == '' and compare_text(table, table, 0.001) == ''
    assert compare_text(table.replace('0.9853', '0.9851'), table).startswith("expected '")  # no tolerance: exact
    assert compare_text(table.replace('0.9848 (-0.0005)', '0.9858 (+0.0005)'), table, 0.001) == ''  # within
    assert compare_text(table.replace('0.9853', '0.98531'), table, 0.001) == ''  # a wider number moves no word
    assert compare_text(table.replace('    0.9853', ' 0.9853'), table, 0.001) == ''  # nor the padding
    assert (compare_text(table.replace('0.9848', '0.9818'), table, 0.002)
            == 'number 2 is 0.9818 where 0.9848 was committed: 0.0030 apart, tolerance 0.002')  # outside
    assert compare_text(table.replace('net', 'mlp'), table, 0.1).startswith('the words differ (numbers aside)')
    assert compare_text(table.replace(' (-0.0005)', ''), table, 0.1).startswith('2 numbers where 3 were committed')  # one gone
    assert compare_text('reached 0.97 in 3 steps', 'reached 0.97 in 5 steps', 3) == ''  # a count of steps is a number
    assert compare_text('0.97 in 3 steps', '0.97 in 7 steps', 3).startswith('number 2 is 3 where 7')
    assert compare_text('mnist37 at 0.97s', 'mnist38 at 0.98s', 1).startswith('the words differ')  # numbers in words are words

def test_a_tolerance_is_read_from_its_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# tolerance: 9'), nbformat.v4.new_code_cell('print(1)'),
                                         nbformat.v4.new_code_cell('x = 1\n  # tolerance: 0.006 (why)\nx'),
                                         nbformat.v4.new_code_cell('# tolerance: 3')])
    nbformat.write(nb, tmp_path/'a.ipynb')
    assert tolerances(tmp_path/'a.ipynb') == {2: 0.006, 3: 3.0}  # code cells only
    nb.cells[3].source = '# tolerance: 1.2.3'
    nbformat.write(nb, tmp_path/'a.ipynb')
    with pytest.raises(ValueError, match=r'a.ipynb cell 3: "# tolerance: 1.2.3" is not a number'): tolerances(tmp_path/'a.ipynb')

def test_a_mismatch_names_the_cell():
    found = compare_outputs({2: 'a 1.0', 5: 'b'}, {2: 'a 1.5', 4: 'c'}, {2: 0.1})
    assert found == ['cell 2: number 1 is 1.0 where 1.5 was committed: 0.5 apart, tolerance 0.1',
                     "cell 4: printed nothing; the committed run printed 'c'", "cell 5: printed 'b'; the committed run printed nothing"]

def check_page(browser, html:Path, shot:str):
    "Open `html`; assert no traceback shows and every image decoded; the images' widths. Screenshot to SHOTS/`shot`."
    browser.get(html.as_uri())
    text = browser.execute_script('return document.body.innerText')  # the text as shown, as the page's reader sees it
    assert 'Traceback (most recent call last)' not in text, f'{html.name} shows a traceback'
    widths = browser.execute_script('return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)')
    assert all(w > 0 for w in widths), f'{html.name}: images that did not decode: {widths}'
    if SHOTS:
        height = browser.execute_script('return document.body.scrollHeight')
        browser.set_window_size(1100, min(max(height, 900), 16000))
        (SHOTS/shot).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS/shot))
        browser.set_window_size(1100, 900)
    return widths

@functools.cache
def _committed_page(nb:str, folder:Path) -> Path: return render_html(ROOT/'nbs'/nb, folder/f'{Path(nb).stem}.html')

@pytest.fixture(scope='session')
def committed_page(tmp_path_factory):
    "The committed notebook `nb` rendered as a page, once in this worker: `committed_page(nb)`."
    folder = tmp_path_factory.mktemp('committed-pages')
    return lambda nb: _committed_page(nb, folder)

@functools.cache
def _executed_page_widths(browser, out:Path) -> list:
    "`check_page` on the executed notebook `out` (`run-SOURCE/executed-NB`), once: a run may serve both sources' tests."
    shot = f"{out.parent.name.removeprefix('run-')}/{out.stem.removeprefix('executed-')}.png"
    return check_page(browser, render_html(out, out.with_suffix('.html')), shot)

@pytest.mark.parametrize('nb,source', RUNS)
def test_executed_notebook_page_in_a_browser(nb, source, homes, browser):
    out = executed(nb, source, homes)
    widths = _executed_page_widths(browser, out)
    assert len(widths) >= max(FIGURES.get(nb, 0), image_outputs(out)) + LINKED.get(nb, 0)  # figures and linked images

@pytest.mark.parametrize('nb', NBS)
def test_committed_notebook_page_shows_its_figures(nb, committed_page, browser):
    widths = check_page(browser, committed_page(nb), f'committed/{Path(nb).stem}.png')
    assert len(widths) >= FIGURES.get(nb, 0) + LINKED.get(nb, 0), f'{nb} is committed without its figures: run python tools/notebooks.py run'
    assert len(widths) >= image_outputs(ROOT/'nbs'/nb) + LINKED.get(nb, 0)

def test_reading_path_links_open_every_notebook_page(committed_page, browser):
    pages = {nb.stem: committed_page(nb.name) for nb in notebooks()}  # all in one folder, so their links work
    browser.get(pages['index'].as_uri())
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href$=\".html\"]')).map(a => a.href)")
    assert {h.rsplit('/', 1)[1] for h in hrefs} >= {f'{p.stem}.html' for p in notebooks() if p.stem != 'index'}
    for h in hrefs:
        browser.get(h)
        assert browser.find_elements('tag name', 'h1'), f'{h} did not open a notebook page'
