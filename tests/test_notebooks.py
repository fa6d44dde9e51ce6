"""The notebooks as a reader meets them (issue 4): every cell run in a real Jupyter kernel, pages checked in a browser.

nbdev_test runs cells in its own shell and skips `notest` cells; here each notebook runs top to bottom in an ipykernel
kernel, on the embedded default and (when there is one) on MNIST_SAMPLE, is rendered to HTML with nbconvert, and the
page is opened in headless Chromium: every figure must have decoded, no traceback may show, and a screenshot is saved.
"""
import os, shutil, sys
from pathlib import Path
import nbformat, pytest
from conftest import ROOT, real_sample_tgz

sys.path.insert(0, str(ROOT/'tools'))
from notebooks import execute, notebooks, render_html

SHOTS = ROOT/'tools'/'pages'  # screenshots (git-ignored)
# The figures a reader should see in each notebook, at the least: digits, mean digits and one digit (00); the sigmoid
# (01); the training curves and the learned weights (02); the helpers' examples (03); the weights figure (index).
FIGURES = {'00_data.ipynb': 3, '01_model.ipynb': 1, '02_training.ipynb': 2, '03_plots.ipynb': 3, 'index.ipynb': 1}

def find(*names):
    "The first of `names` on PATH (or the path itself), else None."
    return next((p for p in map(shutil.which, names) if p), None)

@pytest.fixture(scope='module')
def browser():
    chrome, driver_bin = find('chromium', 'chromium-browser', 'google-chrome'), find('chromedriver')
    if not (chrome and driver_bin):
        pytest.fail('no Chromium and ChromeDriver on PATH: apt-get install chromium chromium-driver (.ci/run does)')
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

def image_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return sum('image/png' in o.get('data', {}) for c in nb.cells if c.cell_type == 'code' for o in c.outputs)

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

@pytest.mark.parametrize('source', ['embedded', 'mnist_sample'])
@pytest.mark.parametrize('nb', [p.name for p in notebooks()])
def test_notebook_runs_in_a_kernel_and_renders(nb, source, offline_env, tmp_path, monkeypatch, browser):
    if source == 'mnist_sample':
        tgz = real_sample_tgz()
        if tgz is None: pytest.skip('no MNIST_SAMPLE archive here')
        offline_env['MNIST37_DATA'] = str(tgz)
    for k in set(os.environ) - set(offline_env): monkeypatch.delenv(k)
    for k, v in offline_env.items(): monkeypatch.setenv(k, v)  # the kernel inherits this environment
    work = tmp_path/'nbs'
    shutil.copytree(ROOT/'nbs', work)
    seconds = execute(work/nb, work/nb, timeout=600)  # raises CellExecutionError, naming the cell, if any cell fails
    print(f'{nb} on {source}: {seconds:.1f}s in a kernel')
    widths = check_page(browser, render_html(work/nb, tmp_path/'page.html'), SHOTS/source/f'{Path(nb).stem}.png')
    assert len(widths) >= max(FIGURES.get(nb, 0), image_outputs(work/nb))  # every figure output, and linked images

@pytest.mark.parametrize('nb', [p.name for p in notebooks()])
def test_committed_notebook_shows_its_figures_without_running(nb, tmp_path, browser):
    widths = check_page(browser, render_html(ROOT/'nbs'/nb, tmp_path/'page.html'), SHOTS/'committed'/f'{Path(nb).stem}.png')
    assert len(widths) >= FIGURES.get(nb, 0), f'{nb} is committed without its figures: run python tools/notebooks.py run'
    assert len(widths) >= image_outputs(ROOT/'nbs'/nb)
