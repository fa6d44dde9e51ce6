"""The drawing page (`mnist37.draw`) as a user meets it: a server on a run trained on the embedded default, digits
drawn with mouse strokes in headless Chromium, answers checked against `mnist37 predict` on the saved drawings.

Browser tests are skipped without Chromium and ChromeDriver on PATH, and fail when MNIST37_REQUIRE_BROWSER=1 (the
`browser` fixture of test_notebooks). The HTTP checks need no browser.
"""
import http.client, io, json, subprocess, sys
from pathlib import Path
import pytest
from PIL import Image, ImageDraw
from conftest import ROOT, mnist37, offline
from test_notebooks import browser  # noqa: F401 (a fixture)
from mnist37.checks import Mnist37Error
from mnist37.checkpoint import KINDS
from mnist37.draw import serve

SCREENSHOT = ROOT/'nbs'/'images'/'draw.png'  # shown in the README and at the end of 98_draw
# Strokes in the canvas's pixels (280×280, origin top left), one list of points per stroke.
SEVEN = [[(60, 50), (220, 50), (200, 90), (160, 160), (125, 240)]]
THREE = [[(70, 60), (140, 35), (200, 70), (190, 110), (140, 135), (205, 170), (200, 215), (140, 245), (70, 220)]]

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp('draw-home')
    return offline(home/'cache', home/'fastai')

@pytest.fixture(scope='module')
def run(tmp_path_factory, env):
    "A linear model trained by `mnist37 train` on the embedded default."
    out = tmp_path_factory.mktemp('draw-run')/'run'
    r = mnist37('train', '--out', out, env=env)
    assert r.returncode == 0, r.stderr
    return out

@pytest.fixture(scope='module')
def server(run, env, tmp_path_factory):
    "`serve(run)` in its own process, saving every drawing it receives: `(url, folder of saved drawings)`."
    saved = tmp_path_factory.mktemp('drawings')
    code = 'import sys; from mnist37.draw import serve; serve(sys.argv[1], open_browser=False, save_dir=sys.argv[2])'
    p = subprocess.Popen([sys.executable, '-u', '-c', code, str(run), str(saved)], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()
    if 'http://127.0.0.1:' not in line:
        p.kill(); pytest.fail(f'the server did not start: {line!r} {p.stderr.read()}')
    yield line.split(' at ')[1].split()[0], saved
    p.terminate(); p.wait(10)

def sketch(strokes, width=18)->bytes:
    "A PNG of black `strokes` on a white 280×280 canvas, like the page's."
    im = Image.new('RGB', (280, 280), 'white')
    for st in strokes: ImageDraw.Draw(im).line(st, fill='black', width=width, joint='curve')
    buf = io.BytesIO(); im.save(buf, 'PNG')
    return buf.getvalue()

def post(url, body=None, headers=None, path='/predict'):
    "`(status, JSON)` of one POST to the server at `url`, with exactly the headers given."
    host, port = url.split('//')[1].strip('/').split(':')
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest('POST', path)
    for k, v in (headers or {}).items(): conn.putheader(k, v)
    conn.endheaders(body)
    r = conn.getresponse()
    res = r.status, json.loads(r.read())
    conn.close()
    return res

def test_bad_requests_get_a_4xx_and_the_server_goes_on(server):
    url, _ = server
    cases = {'not an image': (b'hello', {'Content-Length': '5'}, 415),
             'no length': (None, {}, 411),
             'a length that is no number': (None, {'Content-Length': 'lots'}, 400),
             'a gigabyte announced': (None, {'Content-Length': str(10**9)}, 413)}
    for what, (body, headers, want) in cases.items():
        status, ans = post(url, body, headers)
        assert (status, what) == (want, what), ans
        assert ans['error'] and '\n' not in ans['error']
    status, ans = post(url, b'', {'Content-Length': '0'}, path='/elsewhere')
    assert status == 404
    good = sketch(SEVEN)
    status, ans = post(url, good, {'Content-Length': str(len(good)), 'Content-Type': 'image/png'})
    assert (status, ans['status'], ans['digit']) == (200, 'ok', 7), ans  # and it still answers

def test_a_3_or_7_model_says_it_knows_only_3_and_7(server):
    "A drawn 0 is answered 3 or 7 by a model of threes and sevens, and the answer says why: it knows only those two."
    url, _ = server
    zero = sketch([[(140, 40), (200, 90), (205, 190), (140, 245), (75, 190), (80, 90), (140, 40)]])
    status, ans = post(url, zero, {'Content-Length': str(len(zero)), 'Content-Type': 'image/png'})
    assert (status, ans['digit'] in (3, 7), ans['note']) == (200, True, KINDS['linear'].note), ans

def test_a_missing_run_is_one_line_before_anything_starts(tmp_path):
    with pytest.raises(Mnist37Error) as e: serve(tmp_path/'no-run', open_browser=False)
    assert 'does not exist' in str(e.value) and '\n' not in str(e.value)

def draw(browser, strokes):
    "Draw `strokes` on the page's canvas with the mouse, then wait for the last answer."
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait
    pad = browser.find_element('id', 'pad')
    for s in strokes:
        a = ActionChains(browser, duration=10)
        (x, y), rest = s[0], s[1:]
        a.move_to_element_with_offset(pad, x - 140, y - 140).click_and_hold()
        for nx, ny in rest:
            a.move_by_offset(nx - x, ny - y); x, y = nx, ny
        a.release().perform()
    WebDriverWait(browser, 30).until(lambda b: b.execute_script('return document.body.dataset.state') == 'idle')
    answer = browser.find_element('id', 'answer')
    return answer.text, answer.get_attribute('data-digit'), answer.get_attribute('data-p'), answer.get_attribute('data-saved')

def test_draw_a_seven_and_a_three_in_a_browser(server, run, env, browser):
    url, saved = server
    browser.set_window_size(1000, 700)
    browser.get(url)
    assert browser.find_element('id', 'answer').text == 'draw a digit'  # the empty canvas asks, it does not guess
    got = {}
    for want, strokes in ((7, SEVEN), (3, THREE)):
        browser.find_element('id', 'clear').click()
        assert browser.find_element('id', 'answer').text == 'draw a digit'
        text, digit, p, name = draw(browser, strokes)
        assert text.startswith(f'{want} (p='), text
        got[want] = (int(digit), float(p), saved/name)
        if want == 7:
            bars = browser.find_elements('css selector', '#bars .bar')
            assert [b.get_attribute('data-digit') for b in bars] == ['3', '7']
            assert browser.find_element('id', 'message').text == KINDS['linear'].note  # it knows only 3 and 7
            browser.find_element('tag name', 'body').screenshot(str(SCREENSHOT))
    r = mnist37('predict', '--json', run, *(f for _, _, f in got.values()), env=env)
    assert r.returncode == 0, r.stderr
    predicted = json.loads(r.stdout)
    assert [(d['digit'], d['p']) for d in predicted] == [(d, round(p, 4)) for d, p, _ in got.values()]
    sources = browser.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
    assert len(sources) >= 3, sources  # the page, its /info and at least one /predict
    assert all(s.startswith(url) for s in sources), sources
    browser.find_element('id', 'clear').click()
    assert browser.find_element('id', 'answer').text == 'draw a digit'

@pytest.mark.parametrize('kind', ['touch', 'pen'])
def test_a_finger_or_a_pen_draws_too(server, browser, kind):
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.support.ui import WebDriverWait
    url, _ = server
    browser.get(url)
    pad = browser.find_element('id', 'pad')
    ab = ActionBuilder(browser, mouse=PointerInput(getattr(interaction, f'POINTER_{kind.upper()}'), kind), duration=10)
    (x, y), *rest = SEVEN[0]
    ab.pointer_action.move_to(pad, x - 140, y - 140).pointer_down()
    for x, y in rest: ab.pointer_action.move_to(pad, x - 140, y - 140)
    ab.pointer_action.pointer_up()
    ab.perform()
    WebDriverWait(browser, 30).until(lambda b: b.execute_script('return document.body.dataset.state') == 'idle')
    assert browser.find_element('id', 'answer').get_attribute('data-digit') == '7'
