"""The drawing page (`mnist37.draw`) as a user meets it: a server on a run trained on the embedded default, digits
drawn with mouse strokes in headless Chromium, answers checked against `mnist37 predict` on the saved drawings.
And the server as a hostile page or an unlucky machine meets it (issue 32): other hosts and pages refused, drawings
never overwritten, a full disk, malformed requests, clients that go away or trickle, a burst of 200.

Browser tests are skipped without Chromium and ChromeDriver on PATH, and fail when MNIST37_REQUIRE_BROWSER=1 (the
`browser` fixture of test_notebooks). The HTTP checks need no browser. Every request has a timeout.
"""
import http.client, io, json, select, shutil, socket, subprocess, sys, threading, time
from pathlib import Path
import pytest
import numpy as np
from PIL import Image, ImageDraw
from conftest import ROOT, mnist37, offline
from test_faults import mount  # noqa: F401 (a fixture)
from test_errors import png_of_zeros
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

SERVE = """import sys
from mnist37.draw import make_server
srv = make_server(sys.argv[1], save_dir=sys.argv[2] if sys.argv[2] != '-' else None)
srv.request_timeout = float(sys.argv[3])
print(f'serving at {srv.url}', flush=True)
srv.serve_forever()
"""

class Server:
    "A drawing server on `run` in its own process, as `mnist37 draw` runs it; its stderr kept in a file in `logs`."
    def __init__(self, run, env, save_dir=None, request_timeout=30, logs=None):
        self.save_dir, self.err = save_dir, Path(logs or Path(run).parent)/f'stderr-{time.monotonic_ns()}'
        with open(self.err, 'w') as err:
            self.p = subprocess.Popen([sys.executable, '-u', '-c', SERVE, str(run), str(save_dir or '-'), str(request_timeout)],
                                      env=env, text=True, stdout=subprocess.PIPE, stderr=err)
        line = self.p.stdout.readline()
        if 'http://127.0.0.1:' not in line:
            self.stop(); pytest.fail(f'the server did not start: {line!r} {self.stderr()}')
        self.url = line.split(' at ')[1].strip()
        self.port = int(self.url.rstrip('/').rsplit(':', 1)[1])
    def stderr(self)->str: return self.err.read_text()
    def stop(self):
        self.p.terminate(); self.p.wait(10)

@pytest.fixture(scope='module')
def server(run, env, tmp_path_factory):
    "A server on `run`, saving every drawing it receives: `(url, folder of saved drawings)`."
    saved = tmp_path_factory.mktemp('drawings')
    srv = Server(run, env, saved)
    yield srv.url, saved
    srv.stop()

def sketch(strokes, width=18)->bytes:
    "A PNG of black `strokes` on a white 280×280 canvas, like the page's."
    im = Image.new('RGB', (280, 280), 'white')
    for st in strokes: ImageDraw.Draw(im).line(st, fill='black', width=width, joint='curve')
    buf = io.BytesIO(); im.save(buf, 'PNG')
    return buf.getvalue()

def post(url, body=None, headers=None, path='/predict', method='POST'):
    "`(status, JSON)` of one request to the server at `url`, with exactly the headers given (and Host, unless given)."
    host, port = url.split('//')[1].strip('/').split(':')
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, path, skip_host='Host' in (headers or {}))
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
    status, ans = post(url, good, png_headers(good))
    assert (status, ans['status'], ans['digit']) == (200, 'ok', 7), ans  # and it still answers

def png_headers(body, **more): return {'Content-Length': str(len(body)), 'Content-Type': 'image/png', **more}

def test_a_3_or_7_model_says_it_knows_only_3_and_7(server):
    "A drawn 0 is answered 3 or 7 by a model of threes and sevens, and the answer says why: it knows only those two."
    url, _ = server
    zero = sketch([[(140, 40), (200, 90), (205, 190), (140, 245), (75, 190), (80, 90), (140, 40)]])
    status, ans = post(url, zero, png_headers(zero))
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

# Issue 32: a server only its own page can use, that never loses a drawing and that no client can tie up
def files_in(folder): return sorted(p.name for p in Path(folder).iterdir())

def test_only_its_own_page_can_use_it(server):
    url, saved = server
    port = url.rstrip('/').rsplit(':', 1)[1]
    good = sketch(SEVEN)
    for host in ('evil.example', f'evil.example:{port}', f'127.0.0.1:{int(port) + 1}'):  # as a DNS-rebinding page sends
        status, ans = post(url, None, {'Host': host}, path='/', method='GET')
        assert (status, host) == (403, host) and 'answers requests for 127.0.0.1' in ans['error'], ans
    assert post(url, None, {'Host': f'localhost:{port}'}, path='/info', method='GET')[0] == 200
    before = files_in(saved)
    for origin in ('https://evil.example', 'null'):
        status, ans = post(url, good, png_headers(good, Origin=origin, **{'Content-Type': 'text/plain'}))
        assert (status, origin) == (403, origin) and 'its own pages only' in ans['error'], ans
    for kind in ('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'):  # a "simple" request
        status, ans = post(url, good, png_headers(good, **{'Content-Type': kind}))
        assert (status, kind) == (415, kind) and 'send image/png' in ans['error'], ans
    assert files_in(saved) == before  # nothing refused was saved
    status, ans = post(url, good, png_headers(good, Origin=url.rstrip('/')))  # the page itself
    assert (status, ans['digit']) == (200, 7) and files_in(saved) == sorted(before + [ans['saved']])

def test_malformed_lengths_and_dropped_clients_get_4xx_or_nothing(run, env, tmp_path):
    srv = Server(run, env, logs=tmp_path)
    try:
        for n, want in (('²', 400), ('9'*4300, 413), ('-5', 400), ('1e3', 400)):
            status, ans = post(srv.url, None, {'Content-Length': n, 'Content-Type': 'image/png'})
            assert (status, n) == (want, n) and '\n' not in ans['error'], ans
        bomb = png_of_zeros(tmp_path/'bomb.png', 100_000, 100_000).read_bytes()  # a real PNG of 10,000 million pixels
        status, ans = post(srv.url, bomb, png_headers(bomb))
        assert status == 413 and ans['error'] == ('the drawing is 100000x100000 pixels, too large: the most accepted is '
                                                  '1,048,576 (1024x1024)'), (status, ans, len(bomb))
        for side in (800, 1000):  # 16 dots of two pixels, which once made predict fail on a NaN and the page get no answer
            dots = np.full((side, side), 255, np.uint8)
            for r, c in np.random.default_rng(0).integers(0, side - 2, (16, 2)): dots[r:r+2, c] = 0
            buf = io.BytesIO(); Image.fromarray(dots).save(buf, 'PNG')
            status, ans = post(srv.url, buf.getvalue(), png_headers(buf.getvalue()))
            assert status == 200 and ans['status'] in ('ok', 'no-ink'), ans
        good = sketch(SEVEN)
        for _ in range(5):  # a client that closes the tab while the drawing is judged: a reset, not a goodbye
            s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
            s.sendall(f'POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: image/png\r\n'
                      f'Content-Length: {len(good)}\r\n\r\n'.encode() + good)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
            s.close()
        time.sleep(1)
        assert post(srv.url, good, png_headers(good))[0] == 200
    finally: srv.stop()
    assert srv.stderr() == ''

def test_a_model_with_huge_finite_weights_is_refused_in_one_line(env, tmp_path):
    import torch
    ck = tmp_path/'huge.pt'
    torch.save({'format': 'mnist37', 'model': 'linear', 'params': [torch.full((784, 1), 3e38), torch.zeros(1)], 'meta': {}}, ck)
    srv = Server(ck, env, logs=tmp_path)
    try:
        good = sketch(SEVEN)
        status, ans = post(srv.url, good, png_headers(good))
        assert status == 422 and ans['error'].startswith('the linear model gives the drawing a score too large'), ans
        assert post(srv.url, None, {}, path='/info', method='GET')[0] == 200
    finally: srv.stop()
    assert srv.stderr() == ''
    (tmp_path/'d.png').write_bytes(good)
    r = mnist37('predict', ck, tmp_path/'d.png', env=env)
    assert r.returncode == 1 and 'a score too large to be a number' in r.stderr  # as predict says it

def test_saved_drawings_are_never_overwritten_and_are_the_decoded_image(run, env, tmp_path):
    saved = tmp_path/'drawings'; saved.mkdir()
    good = sketch(SEVEN)
    srv = Server(run, env, saved, logs=tmp_path)
    try: names = [post(srv.url, good, png_headers(good))[1]['saved'] for _ in range(2)]
    finally: srv.stop()
    first = {n: (saved/n).read_bytes() for n in names}
    srv = Server(run, env, saved, logs=tmp_path)  # restarted on the same folder
    try:
        body = good + b'junk after the image'*95_000  # 1.9 MB
        status, ans = post(srv.url, body, png_headers(body))
        assert (status, ans['saved']) == (200, 'drawing-0003.png'), ans
    finally: srv.stop()
    assert (saved/'drawing-0003.png').stat().st_size < 20_000 and Image.open(saved/'drawing-0003.png').tobytes() == Image.open(io.BytesIO(good)).tobytes()
    assert {n: (saved/n).read_bytes() for n in names} == first
    two = [Server(run, env, saved, logs=tmp_path) for i in range(2)]  # two servers on one folder at once
    answers = []
    def draw_ten(srv): answers.extend(post(srv.url, good, png_headers(good))[1]['saved'] for _ in range(10))
    try:
        threads = [threading.Thread(target=draw_ten, args=(s,)) for s in two]
        for t in threads: t.start()
        for t in threads: t.join(120)
    finally:
        for s in two: s.stop()
    assert len(answers) == 20 and len(set(answers)) == 20 and files_in(saved) == [f'drawing-{i:04d}.png' for i in range(1, 24)]
    assert {n: (saved/n).read_bytes() for n in names} == first

def test_a_full_disk_still_answers_and_says_saving_failed(run, env, tmp_path, mount):
    disk = mount(tmp_path/'disk', '100k')
    (disk/'ballast').write_bytes(bytes(shutil.disk_usage(disk).free - 1000))
    srv = Server(run, env, disk, logs=tmp_path)
    try:
        good = sketch(SEVEN)
        status, ans = post(srv.url, good, png_headers(good))
        assert (status, ans['digit'], ans['saved']) == (200, 7, None), ans
        assert f'cannot write {disk}: the disk at {disk} is full' in ans['save_error'], ans
    finally: srv.stop()
    assert srv.stderr() == '' and files_in(disk) == ['ballast']

def test_a_client_that_trickles_is_cut_off_in_time(run, env, tmp_path):
    srv = Server(run, env, request_timeout=2, logs=tmp_path)
    try:
        s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
        head = f'POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\n'
        start, answer = time.monotonic(), b''
        try:
            for b in head.encode() + bytes(500):  # one byte every 50 ms: 30 s in all, and no single read waits 2 s
                if select.select([s], [], [], 0)[0]: break  # the server has answered, or closed
                s.sendall(bytes([b])); time.sleep(0.05)
            while chunk := s.recv(65536): answer += chunk
        except OSError: pass
        took = time.monotonic() - start
        s.close()
        print(f'a trickling client was answered {answer[:40]!r} after {took:.1f} s')
        assert took < 6 and answer.startswith(b'HTTP/1.0 408'), (took, answer)
        assert post(srv.url, None, {}, path='/info', method='GET')[0] == 200
    finally: srv.stop()
    assert srv.stderr() == ''

def rss(pid, field='VmHWM'):
    "The resident memory of process `pid` in MB: now (VmRSS) or at its peak (VmHWM)."
    line, = [l for l in Path(f'/proc/{pid}/status').read_text().splitlines() if l.startswith(field)]
    return int(line.split()[1])/1024

def post_at_once(port, body):
    "The status of a POST of the drawing `body`, the request sent in one piece as a browser sends it."
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
        s.sendall(b'POST /predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n'
                  % (port, len(body)) + body)
        r = http.client.HTTPResponse(s)
        r.begin(); r.read()
        return r.status

def burst(srv, body, n):
    "`n` clients POST `body` at once, each waiting at most 30 s; each one's (outcome, seconds): a status, 'reset' or 'no answer'."
    results, go = [], threading.Event()
    def one():
        go.wait()
        t0 = time.monotonic()
        try: outcome = post_at_once(srv.port, body)
        except (ConnectionError, http.client.RemoteDisconnected): outcome = 'reset'
        except TimeoutError: outcome = 'no answer'
        results.append((outcome, time.monotonic() - t0))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads: t.start()
    go.set()
    for t in threads: t.join(60)
    return results

def test_a_burst_of_200_is_answered_or_refused_quickly(run, env, tmp_path):
    srv = Server(run, env, logs=tmp_path)
    try:
        base = rss(srv.p.pid, 'VmRSS')
        results = burst(srv, sketch(SEVEN), 200)
        outcomes = {o: sum(1 for r in results if r[0] == o) for o in sorted({r[0] for r in results}, key=str)}
        slowest = max(t for _, t in results)
        big = io.BytesIO(); Image.fromarray(np.random.default_rng(0).integers(0, 256, (1024, 1024), dtype=np.uint8)).save(big, 'PNG')
        heavy = burst(srv, big.getvalue(), 30)  # 30 of the largest drawings at once
        peak, after = rss(srv.p.pid), rss(srv.p.pid, 'VmRSS')
        print(f'200 at once: {outcomes}, the slowest in {slowest:.1f} s; 30 largest: '
              f'{ {o: sum(1 for r in heavy if r[0] == o) for o in {r[0] for r in heavy}} }; '
              f'memory {base:.0f} MB before, {peak:.0f} MB at the peak, {after:.0f} MB after')
        assert len(results) == 200 and set(outcomes) <= {200, 503, 'reset'} and outcomes.get(200, 0) >= 16, outcomes
        assert set(r[0] for r in heavy) <= {200, 503, 'reset'} and peak - base < 300, (heavy, peak, base)
        assert post(srv.url, sketch(SEVEN), png_headers(sketch(SEVEN)))[0] == 200  # and it still serves
    finally: srv.stop()
    assert srv.stderr() == ''
