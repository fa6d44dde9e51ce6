"""Write README.md from nbs/index.ipynb, as `nbdev_readme` would where Quarto is installed.

Code cells marked `#| hide`, `#| export` or `#| default_exp` are left out (as in nbdev's docs); other `#|` lines are
dropped; image links are made relative to the repository root. `--check` exits 1 if README.md is not up to date.
"""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r'^#\|\s*(hide|export|default_exp)\b', re.M)

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for c in nb.cells:
        if c.cell_type == 'code':
            if HIDDEN.search(c.source): continue
            c.source = '\n'.join(l for l in c.source.splitlines() if not l.startswith('#|'))
        cells.append(c)
    nb.cells = cells
    nb.metadata['language_info'] = {'name': 'python'}  # fenced blocks marked as python
    body, _ = MarkdownExporter().from_notebook_node(nb)
    body = re.sub(r'\]\((?!https?:|/|#)', '](nbs/', body)
    return re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = readme.exists() and readme.read_text() == text
        print('README.md is up to date' if ok else 'README.md is out of date: run python tools/readme.py')
        sys.exit(0 if ok else 1)
    readme.write_text(text)
    print(f'wrote {readme}')
