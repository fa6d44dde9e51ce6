"""Every parameter of every exported function and class has its own docment, so `show_doc` and `--help` describe it."""
import importlib, inspect, pkgutil, re
import pytest
import mnist37
from fastcore.docments import docments

SKIP = {'_modidx', 'all'}  # nbdev's index and the re-export module define nothing of their own
MODULES = sorted(m.name for m in pkgutil.iter_modules(mnist37.__path__) if m.name not in SKIP)

def exported(module):
    "`(qualified name, object)` for each function and class in the module's `__all__`, and each public method."
    for name in getattr(module, '__all__', []):
        obj = getattr(module, name)
        if getattr(obj, '__module__', None) != module.__name__: continue  # re-exported from elsewhere
        if inspect.isfunction(obj): yield name, obj
        elif inspect.isclass(obj):
            yield name, obj
            for m, f in vars(obj).items():
                if inspect.isfunction(f) and not m.startswith('_'): yield f'{name}.{m}', f

def namedtuple_fields(cls):
    "A NamedTuple's fields without a `# comment` on their line (fastcore.docments does not read NamedTuple fields)."
    src = inspect.getsource(cls)
    return [f for f in cls._fields if not re.search(rf'^\s*{f}\s*:[^#\n]*#\s*\S', src, re.M)]

def undocumented(obj):
    "The parameters of `obj` that have no docment."
    if inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, '_fields'): return namedtuple_fields(obj)
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return []
    docs = docments(obj)
    return [p for p, v in sig.parameters.items()
            if p not in ('self', 'cls') and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD) and not docs.get(p)]

@pytest.mark.parametrize('name', MODULES)
def test_every_parameter_has_a_docment(name):
    module = importlib.import_module(f'mnist37.{name}')
    missing = {q: ps for q, obj in exported(module) if (ps := undocumented(obj))}
    assert not missing, f'mnist37.{name}: parameters without a docment (one parameter per line, each with a # comment): {missing}'
