"""README.md is generated from nbs/index.ipynb, and its first commands are the ones CI runs."""
import re, sys
from conftest import ROOT

sys.path.insert(0, str(ROOT/'tools'))
from readme import readme_text

def test_readme_is_up_to_date_with_index():
    assert (ROOT/'README.md').read_text() == readme_text(), 'README.md is stale: run python tools/readme.py'

def test_first_commands_install_train_and_test():
    block = re.search(r'```sh\n(.*?)```', (ROOT/'README.md').read_text(), re.S).group(1).splitlines()
    assert 'pip install -e ".[dev]"' in block[0] and block[0].endswith('mnist37 train')
    assert 'nbdev_test' in block[1] and 'pytest' in block[1]
