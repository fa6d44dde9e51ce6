"""The notebooks as a reader meets them: every cell run in a real Jupyter kernel, outputs compared, pages in a browser.

nbdev_test runs cells in its own shell and skips `notest` cells; here each notebook runs top to bottom in an ipykernel
kernel, as a new user would (an empty home folder, no network), on the embedded default and, when there is one, on
MNIST_SAMPLE. Its text outputs must equal the committed ones (nbs/ holds the MNIST_SAMPLE run,
tests/reference/embedded/ the embedded one), timings aside. Opening the rendered pages in headless Chromium is a
separate test: skipped when Chromium and ChromeDriver are not on the PATH, a failure when MNIST37_REQUIRE_BROWSER=1.
"""
import functools, os, shutil, sys
from pathlib import Path
import nbformat, pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT/'tools'))
from notebooks import REFERENCE, execute, kernel_env, notebooks, reference_text, render_html, sample_tgz, text_outputs

SHOTS = ROOT/'tools'/'pages'  # screenshots (git-ignored)
# The figures a reader should see in each notebook, at the least: one digit, a grid of digits and the mean digits
# (00); the learning rates, the measurements, the fit as it improves and its loss (02); the sigmoid (03); the timing
# of a batch, the training curves and the learned weights (04); the ReLU, the four runs and the hidden units (06); the
# prepared digit (13); the helpers' examples (92). Index shows a saved figure (a linked image, not an output).
FIGURES = {'00_data.ipynb': 3, '02_sgd.ipynb': 4, '03_model.ipynb': 1, '04_training.ipynb': 3, '06_nets.ipynb': 3,
           '13_your_digit.ipynb': 1, '92_plots.ipynb': 3}
LINKED = {'index.ipynb': 1}
NBS = [p.name for p in notebooks()]
SOURCES = ['embedded', 'mnist_sample']
# A notebook's kernel run and its page check share one worker (pytest -n 2 --dist loadgroup), so it runs once.
RUNS = [pytest.param(nb, s, marks=pytest.mark.xdist_group(f'{nb}:{s}'), id=f'{nb}-{s}') for nb in NBS for s in SOURCES]

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

def executed(nb, source, homes): return _executed(nb, source, homes[source])

def image_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return sum('image/png' in o.get('data', {}) for c in nb.cells if c.cell_type == 'code' for o in c.outputs)

def expected_outputs(nb, source):
    "The committed text outputs: nbs/ for MNIST_SAMPLE, tests/reference/embedded/ for the embedded default."
    if source == 'mnist_sample': return reference_text(text_outputs(ROOT/'nbs'/nb))
    ref = REFERENCE/f'{Path(nb).stem}.txt'
    assert ref.is_file(), f'no {ref.relative_to(ROOT)}: run python tools/notebooks.py reference'
    return ref.read_text()

@pytest.mark.parametrize('nb,source', RUNS)
def test_notebook_runs_in_a_kernel_with_the_committed_outputs(nb, source, homes):
    out = executed(nb, source, homes)
    assert image_outputs(out) >= FIGURES.get(nb, 0)
    assert reference_text(text_outputs(out)) == expected_outputs(nb, source), \
        f'{nb} on {source} printed other outputs than the committed ones: rerun tools/notebooks.py run / reference'

def check_page(browser, html:Path, shot:Path):
    "Open `html`; assert no traceback shows and every image decoded; save a full-page screenshot; the images' widths."
    browser.get(html.as_uri())
    text = browser.find_element('tag name', 'body').text
    assert 'Traceback (most recent call last)' not in text, f'{html.name} shows a traceback'
    widths = browser.execute_script('return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)')
    assert all(w > 0 for w in widths), f'{html.name}: images that did not decode: {widths}'
    height = browser.execute_script('return document.body.scrollHeight')
    browser.set_window_size(1100, min(max(height, 900), 16000))
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    return widths

@pytest.mark.parametrize('nb,source', RUNS)
def test_executed_notebook_page_in_a_browser(nb, source, homes, browser, tmp_path):
    out = executed(nb, source, homes)
    widths = check_page(browser, render_html(out, tmp_path/'page.html'), SHOTS/source/f'{Path(nb).stem}.png')
    assert len(widths) >= max(FIGURES.get(nb, 0), image_outputs(out)) + LINKED.get(nb, 0)  # figures and linked images

@pytest.mark.parametrize('nb', NBS)
def test_committed_notebook_page_shows_its_figures(nb, tmp_path, browser):
    widths = check_page(browser, render_html(ROOT/'nbs'/nb, tmp_path/'page.html'), SHOTS/'committed'/f'{Path(nb).stem}.png')
    assert len(widths) >= FIGURES.get(nb, 0) + LINKED.get(nb, 0), f'{nb} is committed without its figures: run python tools/notebooks.py run'
    assert len(widths) >= image_outputs(ROOT/'nbs'/nb) + LINKED.get(nb, 0)

def test_reading_path_links_open_every_notebook_page(tmp_path, browser):
    for nb in notebooks(): render_html(nb, tmp_path/f'{nb.stem}.html')
    browser.get((tmp_path/'index.html').as_uri())
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href$=\".html\"]')).map(a => a.href)")
    assert {h.rsplit('/', 1)[1] for h in hrefs} >= {f'{p.stem}.html' for p in notebooks() if p.stem != 'index'}
    for h in hrefs:
        browser.get(h)
        assert browser.find_elements('tag name', 'h1'), f'{h} did not open a notebook page'
