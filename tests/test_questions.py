"""Issue 31: the chapter's questionnaire in notebook 14. Every question is there with its answer closed behind
<details>, every link finds its notebook and anchor, no question or answer repeats the book's words, the seven
code questions' checkers pass right answers written other ways and name each known wrong answer, and in a browser the
answers stay closed until clicked."""
import json, math, re, sys
from urllib.parse import unquote
import pytest, torch
import torch.nn.functional as F
from torch import nn
from conftest import ROOT
from mnist37.exercises import CHECKERS, check_file, verdict
from mnist37.question_checkers import QUESTION_CHECKERS

sys.path.insert(0, str(ROOT/'tools'))
from book_shingles import SHINGLES, fingerprints, plain
from notebooks import render_html
from test_notebooks import browser  # the headless Chromium fixture

NB = '14_check_your_understanding.ipynb'
LINK = re.compile(r'\]\(([^)\s]+)\)|href="([^"]+)"')  # a markdown link, or an HTML one (the answers are HTML)

def cells(nb): return json.loads((ROOT/'nbs'/nb).read_text())['cells']
def markdown(nb): return [''.join(c['source']) for c in cells(nb) if c['cell_type'] == 'markdown']
def questions(): return [m for m in markdown(NB) if re.match(r'<a id="q\d+"></a>', m)]
def links(text): return [a or b for a, b in LINK.findall(text)]

def test_all_37_questions_in_the_book_order_each_answered_behind_details():
    qs = questions()
    assert [int(re.match(r'<a id="q(\d+)">', q).group(1)) for q in qs] == list(range(1, 38))
    for q in qs:
        assert q.count('<details>') == 1 and q.count('</details>') == 1 and '<details open' not in q, q[:60]
        question, answer = q.split('<details>')
        assert '<summary>Answer</summary>' in answer and links(answer), f'{q[:60]}: no answer, or no link'
        assert question.strip().endswith(('?', '.')), question  # the question itself stays outside, shown
        prose = plain(answer.split('</summary>')[1].split('Shown in')[0], code='code')  # code blocks aside
        n = len(re.findall(r'[.?!](?:\s|$)', prose))  # sentences
        assert 1 <= n <= 6, f'{q[:60]}: {n} sentences'

def anchors(nb:str) -> set:
    "The ids a link into notebook `nb` can land on: its `<a id>`s and its headings' ids, as Jupyter and nbconvert make them."
    found = set()
    for m in markdown(nb):
        found |= set(re.findall(r'<a id="([^"]+)"', m))
        for h in re.findall(r'^#+\s+(.*)$', m, re.M):
            text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', h).replace('`', '').replace('*', '')
            found.add(text.strip().replace(' ', '-'))
    return found

def test_every_link_in_14_finds_its_notebook_and_anchor():
    local = [l for m in markdown(NB) for l in links(m) if not l.startswith('http')]
    assert len(local) > 50
    for link in local:
        target, _, anchor = link.partition('#')
        target = target or NB
        assert (ROOT/'nbs'/target).is_file(), f'{link}: no notebook {target}'
        if anchor: assert unquote(anchor) in anchors(target), f'{link}: {target} has no anchor {anchor!r}'
    book = [l for m in markdown(NB) for l in links(m) if l.startswith('http')]
    assert set(book) == {'https://github.com/fastai/fastbook/blob/master/04_mnist_basics.ipynb'}

def test_no_question_or_answer_repeats_the_books_words():
    book = {l.strip() for l in SHINGLES.read_text().splitlines() if l.strip() and not l.startswith('#')}
    assert len(book) > 300
    assert fingerprints('What is SGD?') <= book and fingerprints('What is broadcasting?') <= book  # the hashes do match the book
    for m in markdown(NB):
        assert not fingerprints(m) & book, f'a cell of {NB} repeats the book\'s words (6 in a row, or a sentence): {m[:80]}'

def test_stubs_are_followed_by_their_check_and_say_not_yet_written():
    code = [c for c in cells(NB) if c['cell_type'] == 'code']
    stubs = [(i, re.match(r'def (\w+)\(', ''.join(c['source'])).group(1)) for i, c in enumerate(code)
             if ''.join(c['source']).endswith('raise NotImplementedError')]
    assert [n for _, n in stubs] == list(QUESTION_CHECKERS)
    for i, name in stubs:
        check = code[i + 1]
        assert ''.join(check['source']) == f'try_it({name})'
        assert [''.join(o.get('text', '')) for o in check['outputs']] == [f'… {name}: not yet written\n']

# The questionnaire's checkers: right answers written in other ways, and each known wrong answer named.
def relu_in_place(x):
    x[x < 0] = 0
    return x

def double_odds_by_loop(xs):  # not a comprehension, but the list is right: the checker judges the list
    out = []
    for x in xs:
        if x % 2: out.append(2*x)
    return out

def remove_evens(xs):  # changes the caller's list, and skips the item after each one removed
    for x in xs:
        if x % 2 == 0: xs.remove(x)
    return [2*x for x in xs]

def relu_by_hand(x):
    out = x.clone()
    out[out < 0] = 0
    return out

RIGHT = [
    ('double_odds', lambda xs: [2*x for x in xs if x % 2 == 1]), ('double_odds', lambda xs: [x*2 for x in xs if x % 2]),
    ('double_odds', lambda xs: [x + x for x in xs if x & 1]), ('double_odds', lambda xs: [2*x for x in xs if x % 2 != 0]),
    ('double_odds', lambda xs: list(map(lambda x: 2*x, filter(lambda x: x % 2, xs)))), ('double_odds', double_odds_by_loop),
    ('rmse', lambda a, b: ((a - b)**2).mean().sqrt()), ('rmse', lambda a, b: F.mse_loss(a, b).sqrt()),
    ('rmse', lambda a, b: torch.sqrt(torch.mean(torch.square(a - b)))),
    ('rmse', lambda a, b: torch.linalg.vector_norm(a - b)/math.sqrt(a.numel())), ('rmse', lambda a, b: (a - b).pow(2).mean()**0.5),
    ('mean_abs_diff', lambda a, b: (a - b).abs().mean()), ('mean_abs_diff', lambda a, b: F.l1_loss(a, b)),
    ('mean_abs_diff', lambda a, b: torch.linalg.vector_norm(a - b, 1)/(a - b).numel()),
    ('mean_abs_diff', lambda a, b: (b - a).abs().sum()/a.numel()), ('mean_abs_diff', lambda a, b: abs(a - b).mean()),
    ('bottom_right', lambda t: t[-2:, -2:]), ('bottom_right', lambda t: t[-2:][:, -2:]), ('bottom_right', lambda t: t[:, -2:][-2:]),
    ('bottom_right', lambda t: t[len(t) - 2:, t.shape[1] - 2:]), ('bottom_right', lambda t: t[-2:, -2:].clone()),
    ('bottom_right', lambda t: torch.stack([t[-2, -2:], t[-1, -2:]])),
    ('sigmoid', lambda x: 1/(1 + torch.exp(-x))), ('sigmoid', torch.sigmoid), ('sigmoid', lambda x: x.sigmoid()),
    ('sigmoid', lambda x: (torch.tanh(x/2) + 1)/2), ('sigmoid', lambda x: torch.special.expit(x)),
    ('sigmoid', lambda x: torch.where(x >= 0, 1/(1 + torch.exp(-x)), torch.exp(x)/(1 + torch.exp(x)))),
    ('pair_up', lambda a, b: list(zip(a, b))), ('pair_up', lambda a, b: [(x, y) for x, y in zip(a, b)]),
    ('pair_up', lambda a, b: [(a[i], b[i]) for i in range(len(a))]), ('pair_up', lambda a, b: [*zip(a, b)]),
    ('pair_up', lambda a, b: list(map(lambda x, y: (x, y), a, b))),
    ('relu', lambda x: x.clamp(min=0)), ('relu', lambda x: x.max(torch.tensor(0.0))), ('relu', F.relu), ('relu', nn.ReLU()),
    ('relu', lambda x: x*(x > 0)), ('relu', lambda x: torch.where(x > 0, x, 0.)), ('relu', lambda x: (x + x.abs())/2),
    ('relu', lambda x: torch.maximum(x, torch.zeros_like(x))), ('relu', relu_by_hand),
]

WRONG = [
    ('double_odds', lambda xs: [x^2 for x in xs if x % 2 == 1], 'exclusive or'),
    ('double_odds', lambda xs: [x**2 for x in xs if x % 2 == 1], 'squared the odd numbers'),
    ('double_odds', lambda xs: [x*x for x in xs if x % 2 == 1], 'squared the odd numbers'),
    ('double_odds', lambda xs: [2*x for x in xs if x % 2 == 0], 'doubled the even numbers'),
    ('double_odds', lambda xs: [2*x for x in xs], 'doubled every number'),
    ('double_odds', lambda xs: [x for x in xs if x % 2], 'without doubling'),
    ('double_odds', lambda xs: [x for x in xs if x % 2]*2, 'repeats it'),
    ('double_odds', lambda xs: (2*x for x in xs if x % 2), 'not a list'),
    ('double_odds', lambda xs: None, 'returned None'),
    ('double_odds', lambda xs: tuple(2*x for x in xs if x % 2), 'gave a tuple, not a list'),
    ('double_odds', lambda xs: [2*x for i, x in enumerate(xs) if i % 2 == 1], 'odd positions'),
    ('double_odds', lambda xs: [2*x for x in xs[1::2]], 'odd positions'),
    ('double_odds', remove_evens, 'changed the list it was given'),
    ('rmse', lambda a, b: ((a - b)**2).mean(), 'without the square root'),
    ('rmse', lambda a, b: F.mse_loss(a, b), 'without the square root'),
    ('rmse', lambda a, b: ((a - b)**2).sqrt().mean(), 'taken before the mean'),
    ('rmse', lambda a, b: torch.dist(a, b), 'L2 norm'),
    ('rmse', lambda a, b: ((a - b).mean()**2).sqrt(), 'before squaring'),
    ('rmse', lambda a, b: ((a - b)**2).mean(-1).sqrt(), 'one number'),
    ('rmse', lambda a, b: F.mse_loss(a, b).sqrt().item(), 'a Python number'),
    ('rmse', lambda a, b: math.sqrt(((a - b)**2).mean()), 'a Python number'),
    ('rmse', lambda a, b: (((a - b)**2).sum()/len(a)).sqrt(), 'len(a)'),
    ('rmse', lambda a, b: ((a - b)**2).mean((-1, -2)).sqrt(), 'last two axes'),
    ('mean_abs_diff', lambda a, b: (a - b).mean(), 'without their absolute value'),
    ('mean_abs_diff', lambda a, b: (a - b).mean().abs(), 'absolute value of the mean'),
    ('mean_abs_diff', lambda a, b: (a - b).abs().sum(), 'L1 norm'),
    ('mean_abs_diff', lambda a, b: ((a - b)**2).mean(), 'mean squared error'),
    ('mean_abs_diff', lambda a, b: ((a - b)**2).mean().sqrt(), 'root mean squared error'),
    ('mean_abs_diff', lambda a, b: (a.abs() - b.abs()).mean(), 'before subtracting'),
    ('mean_abs_diff', lambda a, b: (a - b).abs().sum()/len(a), 'len(a)'),
    ('mean_abs_diff', lambda a, b: (a - b).abs().mean((-1, -2)), 'last two axes'),
    ('mean_abs_diff', lambda a, b: (a - b).abs().mean().item(), 'a Python number'),
    ('bottom_right', lambda t: t.flatten()[-4:], 'last four numbers in reading order'),
    ('bottom_right', lambda t: t.flatten()[-4:].view(2, 2), 'made them 2×2'),
    ('bottom_right', lambda t: t[1:, 1:], 'only when t is 3×3'),
    ('bottom_right', lambda t: t[1:3, 1:3], 'only when t is 3×3'),
    ('bottom_right', lambda t: t[-2:][-2:], 'both indexes pick rows'),
    ('bottom_right', lambda t: t[-2:], 'kept whole rows'),
    ('bottom_right', lambda t: t[-2:, -2:].flatten(), 'in a row'),
    ('bottom_right', lambda t: t[:2, :2], 'top-left'),
    ('bottom_right', lambda t: t[len(t) - 2:, len(t) - 2:], 'only when t is square'),
    ('bottom_right', lambda t: t[-2:-1, -2:-1], 'stopped one short'),
    ('bottom_right', lambda t: t[-2:, -2:]*2, 'doubled the block'),
    ('bottom_right', lambda t: t[-2:, :2], 'but not the bottom-right one'),
    ('bottom_right', lambda t: t.T[-2:, -2:], 'but not the bottom-right one'),
    ('bottom_right', lambda t: [row[-2:] for row in t[-2:]], 'a Python list'),
    ('sigmoid', lambda x: torch.exp(x)/(1 + torch.exp(x)), 'overflows'),
    ('sigmoid', lambda x: x.exp()/(x.exp() + 1), 'overflows'),
    ('sigmoid', lambda x: 1/(1 + torch.exp(x)), 'falls as x grows'),
    ('sigmoid', torch.tanh, 'tanh'),
    ('sigmoid', lambda x: 1/(1 + math.exp(-x)), 'math.exp'),
    ('sigmoid', lambda x: x.sigmoid_(), 'in place'),
    ('sigmoid', lambda x: 1/(1 - torch.exp(-x)), 'did not give the sigmoid'),
    ('sigmoid', lambda x: torch.exp(-x)/(1 + torch.exp(-x)), 'the sigmoid of -x'),
    ('sigmoid', lambda x: torch.sigmoid(x).mean(), "x's shape"),
    ('pair_up', lambda a, b: dict(zip(a, b)), 'gave a dict'),
    ('pair_up', lambda a, b: {x: y for x, y in zip(a, b)}, 'gave a dict'),
    ('pair_up', lambda a, b: zip(a, b), 'zip object'),
    ('pair_up', lambda a, b: [[x, y] for x, y in zip(a, b)], 'each pair a list'),
    ('pair_up', lambda a, b: list(zip(b, a)), 'wrong way round'),
    ('pair_up', lambda a, b: [(x, y) for x in a for y in b], 'every item of a with every item of b'),
    ('pair_up', lambda a, b: list(a) + list(b), 'instead of pairing'),
    ('pair_up', lambda a, b: None, 'returned None'),
    ('pair_up', lambda a, b: tuple(zip(a, b)), 'gave a tuple of pairs'),
    ('pair_up', lambda a, b: set(zip(a, b)), 'gave a set'),
    ('pair_up', lambda a, b: ((x, y) for x, y in zip(a, b)), 'one at a time'),
    ('relu', torch.abs, 'absolute value'),
    ('relu', lambda x: x.clamp(0, 1), 'clamped at 1'),
    ('relu', lambda x: torch.clamp(x, min=0, max=1), 'clamped at 1'),
    ('relu', lambda x: x.clamp(max=0), 'other way round'),
    ('relu', lambda x: max(x, 0), "Python's max"),
    ('relu', lambda x: (x > 0).float(), 'a step'),
    ('relu', relu_in_place, 'in place'),
    ('relu', lambda x: F.relu(x, inplace=True), 'in place'),
    ('relu', lambda x: torch.max(x, 0), 'torch.max(x, 0)'),
    ('relu', lambda x: x.max(), "x's shape"),
    ('relu', lambda x: x[x > 0], "x's shape"),
]

@pytest.mark.parametrize('name,f', RIGHT, ids=[f'{n}-{i}' for i, (n, _) in enumerate(RIGHT)])
def test_a_right_answer_passes(name, f):
    ok, line = verdict(f, name)
    assert ok and line.startswith(f'✓ {name}: '), line

@pytest.mark.parametrize('name,f,words', WRONG, ids=[f'{n}-{w}' for n, _, w in WRONG])
def test_a_known_mistake_gets_its_message(name, f, words):
    ok, line = verdict(f, name)
    assert not ok and line.startswith(f'✗ {name}: {name} ') and words in line, line

def test_every_question_checker_is_in_the_table_with_right_and_wrong_answers():
    assert all(CHECKERS[n] is c for n, c in QUESTION_CHECKERS.items())
    assert list(CHECKERS)[-5:] == ['double_odds', 'rmse', 'mean_abs_diff', 'bottom_right', 'pair_up']
    assert {n for n, _ in RIGHT} == {n for n, _, _ in WRONG} == set(QUESTION_CHECKERS)

def test_a_chapter_function_is_judged_with_torchs_sigmoid_and_relu_and_blames_the_learners():
    "A learner's mnist_loss or simple_net that calls their own sigmoid or relu is judged alone, and told which to fix."
    ns = {'torch': torch, '__name__': '__learner__'}  # as `mnist37 check` runs a learner's file
    exec('def sigmoid(x): return torch.exp(x)/(1 + torch.exp(x))\n'
         'def mnist_loss(predictions, targets):\n'
         '    p = sigmoid(predictions)\n'
         '    return torch.where(targets==1, 1-p, p).mean()\n'
         'def relu(x): return x.abs()\n'
         'def simple_net(xb, w1, b1, w2, b2): return relu(xb@w1 + b1)@w2 + b2\n', ns)
    assert verdict(ns['mnist_loss']) == (True, "✓ mnist_loss: 5 checks passed (with mnist37's sigmoid: your sigmoid is not right yet, fix it first)")
    assert verdict(ns['simple_net']) == (True, "✓ simple_net: 2 checks passed (with mnist37's relu: your relu is not right yet, fix it first)")
    assert not verdict(ns['sigmoid'])[0] and not verdict(ns['relu'])[0]

def test_a_checked_file_blames_the_learners_sigmoid_and_relu(tmp_path, capsys):
    "`mnist37 check` judges sigmoid and relu before the functions that call them, so their lines can name them."
    (tmp_path/'mine.py').write_text('import torch\n'
        'def sigmoid(x): return torch.exp(x)/(1 + torch.exp(x))\n'
        'def mnist_loss(predictions, targets):\n'
        '    p = sigmoid(predictions)\n'
        '    return torch.where(targets==1, 1-p, p).mean()\n'
        'def relu(x): return x.abs()\n'
        'def simple_net(xb, w1, b1, w2, b2): return relu(xb@w1 + b1)@w2 + b2\n')
    assert not check_file(tmp_path/'mine.py')
    lines = capsys.readouterr().out.splitlines()
    assert [l.split(':')[0] for l in lines] == ['✗ sigmoid', '✓ mnist_loss', '✗ relu', '✓ simple_net'], lines
    assert 'overflows' in lines[0] and 'absolute value' in lines[2]
    assert lines[1] == "✓ mnist_loss: 5 checks passed (with mnist37's sigmoid: your sigmoid is not right yet, fix it first)"
    assert lines[3] == "✓ simple_net: 2 checks passed (with mnist37's relu: your relu is not right yet, fix it first)"

def test_checking_the_stub_notebook_says_not_yet_written_and_blames_nothing_of_mnist37s(capsys):
    "14 imports mnist37's mnist_loss and has a sigmoid stub: mnist37's function is not blamed for the learner's stub."
    assert not check_file(ROOT/'nbs'/NB)
    lines = capsys.readouterr().out.splitlines()
    assert [l for l in lines if l.startswith('…')] == [f'… {n}: not yet written' for n in CHECKERS if n in QUESTION_CHECKERS]
    assert [l for l in lines if l.startswith('·')] == [f"· {n}: this is mnist37's own {n}, so there is nothing of yours to check"
                                                      for n in ('init_params', 'linear1', 'mnist_loss', 'mnist_distance')]
    assert len(lines) == 11

@pytest.fixture(scope='module')
def pages(tmp_path_factory):
    "Notebook 14 and every notebook it links to, rendered as committed into one folder (so the links between them work)."
    folder = tmp_path_factory.mktemp('questionnaire-pages')
    linked = {l.split('#')[0] for m in markdown(NB) for l in links(m) if '.ipynb' in l and not l.startswith('http')}
    for nb in linked | {NB}: render_html(ROOT/'nbs'/nb, folder/nb.replace('.ipynb', '.html'))
    return folder

def test_answers_are_closed_until_clicked_in_a_browser(pages, browser):
    browser.get((pages/NB.replace('.ipynb', '.html')).as_uri())
    details = browser.find_elements('tag name', 'details')
    assert len(details) == 37
    assert not any(d.get_property('open') for d in details)  # every answer closed
    shown = lambda d: browser.execute_script('return arguments[0].querySelector("p").checkVisibility()', d)
    assert not shown(details[0]) and not shown(details[-1])  # its text is not shown
    for d in (details[0], details[-1]):
        summary = d.find_element('tag name', 'summary')
        browser.execute_script('arguments[0].scrollIntoView()', summary)
        summary.click()
        assert d.get_property('open') and shown(d)  # a click opens it
    assert sum(bool(d.get_property('open')) for d in details) == 2  # and only the ones clicked

def test_every_link_lands_on_its_anchor_in_a_browser(pages, browser):
    browser.get((pages/NB.replace('.ipynb', '.html')).as_uri())
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href*=\"#\"]')).map(a => a.href)")
    targets = sorted({h for h in hrefs if h.startswith('file:')})
    assert len(targets) > 30
    for h in targets:
        browser.get(h)
        anchor = unquote(h.split('#', 1)[1])
        assert browser.execute_script('return document.getElementById(arguments[0]) !== null', anchor), f'{h}: no element {anchor!r}'
