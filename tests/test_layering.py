"""The design's layering, checked by walking every import (AST) of the three packages.

docs/architecture.md draws the arrows: kvstore imports no distmod; launch imports neither;
distmod.ops knows nothing of executors, modules or symbols; the side concerns (io, metric,
optimizer, initializer, callback, lr_scheduler, model) import no module layer; the module
layer reaches the other ranks only through distmod.kvstore (no mpi4py, no kvstore package);
and nobody imports another package's private ``_name`` module.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('distmod', 'kvstore', 'launch')
LEAVES = ('distmod.io', 'distmod.metric', 'distmod.optimizer', 'distmod.initializer',
          'distmod.callback', 'distmod.lr_scheduler', 'distmod.model')


def _modules():
    """{module name: path} for every .py file of the packages."""
    out = {}
    for pkg in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, pkg)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for f in files:
                if f.endswith('.py'):
                    path = os.path.join(folder, f)
                    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                    if rel[-1] == '__init__':
                        rel = rel[:-1]
                    out['.'.join(rel)] = path
    return out


MODULES = _modules()


def _imports(name, path):
    """The absolute module names ``name`` imports (``from a import b`` gives ``a`` and, when
    ``a.b`` is a module, ``a.b``)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_pkg = path.endswith('__init__.py')
    here = name.split('.') if is_pkg else name.split('.')[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            found.add(mod)
            for alias in node.names:
                if '%s.%s' % (mod, alias.name) in MODULES:
                    found.add('%s.%s' % (mod, alias.name))
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _under(mod, prefix):
    return mod == prefix or mod.startswith(prefix + '.')


def _violations(importers, forbidden):
    out = []
    for name, mods in sorted(IMPORTS.items()):
        if not any(_under(name, p) for p in importers):
            continue
        for mod in sorted(mods):
            if any(_under(mod, f) for f in forbidden):
                out.append('%s imports %s' % (name, mod))
    return out


def test_the_walk_sees_every_package():
    assert {'distmod', 'kvstore', 'launch', 'distmod.module.module', 'distmod.ops.nn',
            'distmod.executor.plan', 'kvstore.buckets'} <= set(MODULES)
    assert 'distmod.kvstore' in IMPORTS['distmod.module.module'] or \
        any(_under(m, 'distmod.kvstore') for m in IMPORTS['distmod.module.module'])


@pytest.mark.parametrize('importers, forbidden, why', [
    (['kvstore'], ['distmod'], 'kvstore moves raw buffers and never imports distmod'),
    (['launch'], ['distmod', 'kvstore', 'mpi4py'], 'launch builds command lines only'),
    (['distmod.ops'], ['distmod.executor', 'distmod.module', 'distmod.symbol'],
     'an operator is data about itself'),
    (list(LEAVES), ['distmod.module'], 'side concerns are leaves the module layer uses'),
    (['distmod.module'], ['mpi4py', 'kvstore'],
     'the module layer reaches the other ranks through distmod.kvstore only'),
    (['distmod.executor'], ['distmod.module', 'distmod.kvstore', 'kvstore', 'mpi4py'],
     'the executor knows nothing of modules or stores'),
])
def test_layer_imports(importers, forbidden, why):
    assert _violations(importers, forbidden) == [], why


def test_nobody_imports_another_packages_private_module():
    bad = []
    for name, mods in sorted(IMPORTS.items()):
        own = name.split('.')[0]
        for mod in mods:
            parts = mod.split('.')
            for i, part in enumerate(parts):
                if part.startswith('_') and not part.startswith('__') and i > 0:
                    owner = '.'.join(parts[:i])
                    if not _under(name, owner) or parts[0] != own:
                        bad.append('%s imports %s' % (name, mod))
                    break
    assert bad == []
