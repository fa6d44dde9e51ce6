"""Check an install of `.[dev]`: pip went straight to an answer, and the installed set is the intended one.

Three checks (issue 24), each a function that returns what is wrong (an empty list when nothing is):
- `backtracked(log)`: the packages pip's resolver walked back through ("pip is looking at multiple versions of X"),
  read from the output of `pip install`. A new release that breaks our bounds shows up here first.
- `denied(names)`: installed distributions from `DENIED`, the web frameworks that fastprogress 1.1+ dragged in
  through python-fasthtml. Nothing in this package serves a page.
- `unmet(reqs, versions)`: requirements of settings.ini (`requirements` and `dev_requirements`) that the installed
  versions do not satisfy, e.g. an environment made before the bounds were added.

`python tools/install_check.py [PIP_LOG]` runs them on the Python that runs it (and on PIP_LOG when given), prints one
line per problem and exits 1 if there is any. `.ci/run` runs it on the fresh `.venv` with the README's install output.
"""
import re, sys
from configparser import ConfigParser
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# Web frameworks and servers, and the python-fasthtml-only packages that came with them (issue 24).
DENIED = ('python-fasthtml', 'starlette', 'uvicorn', 'fastapi', 'flask', 'fastlite', 'apswutils')
BACKTRACK = re.compile(r'pip is (?:still )?looking at multiple versions of (\S+) to determine')

def backtracked(log:str # the output of `pip install` (any verbosity)
               ) -> list:
    "The packages pip's resolver walked back through, in the order it first did, each once."
    return list(dict.fromkeys(canonicalize_name(m) for m in BACKTRACK.findall(log)))

def installed(
) -> dict:
    "Every distribution installed for this Python: canonical name -> version."
    return {canonicalize_name(d.metadata['Name']): d.version for d in metadata.distributions()}

def denied(names, # installed distribution names
           deny=DENIED # names that must not be installed
          ) -> list:
    "The names in `names` that are in `deny`, sorted."
    deny = {canonicalize_name(n) for n in deny}
    return sorted({canonicalize_name(n) for n in names} & deny)

def settings_requirements(path=ROOT/'settings.ini' # the nbdev settings file `setup.py` reads
                         ) -> list:
    "The `requirements` and `dev_requirements` of settings.ini, as `packaging` Requirements."
    cfg = ConfigParser(delimiters=['='])
    cfg.read(path, encoding='utf-8')
    return [Requirement(r) for k in ('requirements', 'dev_requirements') for r in cfg['DEFAULT'][k].split()]

def unmet(reqs, # `packaging` Requirements
          versions # installed versions: canonical name -> version
         ) -> list:
    "One line per requirement in `reqs` that is missing from `versions` or whose installed version it excludes."
    out = []
    for r in reqs:
        v = versions.get(canonicalize_name(r.name))
        if v is None: out.append(f'{r} is not installed')
        elif not r.specifier.contains(v, prereleases=True): out.append(f'{r} is not met: {r.name} {v} is installed')
    return out

def problems(log=None # the output of `pip install`, or None to check only the installed set
            ) -> list:
    "Everything wrong with this environment's install, one line each."
    versions = installed()
    out = [f'pip backtracked on {n} ("looking at multiple versions"): give it an upper bound in settings.ini'
           for n in backtracked(log or '')]
    out += [f'{n} is installed, but nothing here needs a web framework: find what requires it (pip show) and bound that'
            for n in denied(versions)]
    return out + [f'{u}: reinstall with pip install -e ".[dev]"' for u in unmet(settings_requirements(), versions)]

if __name__ == '__main__':
    log = Path(sys.argv[1]).read_text(errors='replace') if len(sys.argv) > 1 else None
    found = problems(log)
    for p in found: print(f'install check: {p}')
    if not found:
        print(f'install check: {"no backtracking in pip output; " if log is not None else ""}{len(installed())} '
              f'distributions, none of {", ".join(DENIED)}; every settings.ini requirement met')
    sys.exit(1 if found else 0)
