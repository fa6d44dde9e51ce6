"""Fingerprints of the book's questionnaire, so that a test can tell that our questions and answers never repeat its
sentences or runs of its words, without this project holding the book's words.

    python tools/book_shingles.py 04_mnist_basics.ipynb     (fastbook's chapter 4) writes tests/reference/book_shingles.txt

The book's prose is not licensed for redistribution, so what is kept is a short hash of each *shingle*, each run of
six consecutive words of a question or a further-research task, and of each whole sentence of three words or more
(a short question has no shingle): lower case, with code spans, HTML tags and link targets left out. A hash cannot be
read back into words, and two texts that share a run of six words, or a sentence, share its hash.
tests/test_questions.py hashes notebook 14's questions and answers the same way: none may match.
"""
import hashlib, html, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHINGLES = ROOT/'tests'/'reference'/'book_shingles.txt'
N = 6  # words in a shingle

def plain(text:str, code:str='') -> str:
    "Markdown or HTML `text` as plain prose: code blocks dropped, each code span made `code`, tags and link targets dropped."
    text = re.sub(r'```.*?```|<pre>.*?</pre>', ' ', text.replace('’', "'"), flags=re.S)
    text = re.sub(r'`[^`]*`|<code>.*?</code>', f' {code} ', text, flags=re.S)
    return html.unescape(re.sub(r'<[^>]+>', ' ', re.sub(r'\]\([^)]*\)', '] ', text)))

def words(text:str) -> list:
    "The words of `text`'s prose (as `plain` leaves it), lower case."
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())

def shingles(text:str, n:int=N) -> set:
    "A short hash of each run of `n` consecutive words of `text`'s prose, code left out."
    ws = words(plain(text))
    return {hashlib.sha256(' '.join(ws[i:i+n]).encode()).hexdigest()[:16] for i in range(len(ws) - n + 1)}

def sentences(text:str) -> set:
    "A short hash of each sentence of three words or more in `text`'s prose, each piece of code a word, 'code'."
    parts = [words(p) for p in re.split(r'[.?!:;](?:\s|$)', plain(text, code='code'))]
    return {hashlib.sha256(' '.join(ws).encode()).hexdigest()[:16] for ws in parts if len(ws) >= 3}

def fingerprints(text:str) -> set:
    "The hashes of `text`'s shingles and sentences, each marked with which it is."
    return {f'shingle {h}' for h in shingles(text)} | {f'sentence {h}' for h in sentences(text)}

def questionnaire(nb_path:Path) -> list:
    "The items of the chapter's 'Questionnaire' and 'Further Research' lists, in the book's notebook at `nb_path`."
    cells = [''.join(c['source']) for c in json.loads(Path(nb_path).read_text())['cells'] if c['cell_type'] == 'markdown']
    start = next(i for i, c in enumerate(cells) if c.strip() == '## Questionnaire')
    lines = [l for c in cells[start+1:] if not c.startswith('#') for l in c.splitlines()]
    items = []
    for l in lines:
        if re.match(r'\s*\d+\.\s', l): items.append(l)
        elif items and l.strip(): items[-1] += ' ' + l
    return items

if __name__ == '__main__':
    if len(sys.argv) != 2: sys.exit(__doc__)
    items = questionnaire(Path(sys.argv[1]))
    hashes = sorted(set().union(*(fingerprints(re.sub(r'^\s*\d+\.\s', '', item)) for item in items)))
    SHINGLES.write_text(f'# the six-word shingles and the sentences of the {len(items)} items of the questionnaire and further '
                        'research of fastbook 04_mnist_basics.ipynb, hashed: made by tools/book_shingles.py\n' + '\n'.join(hashes) + '\n')
    print(f'{len(items)} items, {len(hashes)} hashes: {SHINGLES}')
