"""The import rule: core <- tasks (cls, seg, det) <- benchmarks <- tools.

Every ``.py`` file of ``pomp_mm/`` and ``tools/`` is parsed with ``ast`` (no
import runs), so a violation anywhere fails here with the file, the line and
the module it imports:

* ``pomp_mm/core`` imports no task, no benchmark and no ``pomp_mm.utils``
  (the command-line helpers of the tools);
* ``pomp_mm/cls``, ``seg``, ``det`` import no benchmark (``pomp_mm.benchmarks``
  or its old path ``pomp_mm.miniworld``) and not each other;
* ``pomp_mm/engine`` (the train/test entry logic of the tools) and
  ``pomp_mm/apis`` (the inferencers) sit between
  the tasks and the benchmarks: core and tasks do not import it, and it
  imports no benchmark;
* no module of ``pomp_mm`` imports a re-export shim (an old path kept for
  users for one release), except the shims themselves;
* no tool loads another tool (``spec_from_file_location`` or ``run_path`` of
  a file in ``tools/``, ``tools/`` put on ``sys.path``, ``import train``):
  shared logic lives in the package.

The exceptions are listed here by name: the re-export shims at old paths,
which import their new location, and the module ``__getattr__`` of two task
modules, which imports a moved benchmark class only when a user asks the old
path for it.
"""
import ast
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(ROOT, 'pomp_mm')
TOOLS = osp.join(ROOT, 'tools')

CORE = ('pomp_mm.core', )
TASKS = ('pomp_mm.cls', 'pomp_mm.seg', 'pomp_mm.det')
ENGINE = ('pomp_mm.engine', 'pomp_mm.apis')
BENCHMARKS = ('pomp_mm.benchmarks', 'pomp_mm.miniworld')
#: Re-export modules at old paths (moved to -> kept for this release).
SHIMS = {
    'pomp_mm.miniworld': 'pomp_mm.benchmarks.miniworld',
    'pomp_mm.miniworld.world': 'pomp_mm.benchmarks.miniworld',
    'pomp_mm.miniworld.splits': 'pomp_mm.benchmarks.miniworld',
    'pomp_mm.miniworld.datasets': 'pomp_mm.benchmarks.miniworld',
    'pomp_mm.miniworld.export': 'pomp_mm.benchmarks.miniworld',
    'pomp_mm.miniworld.seeds': 'pomp_mm.benchmarks',
    'pomp_mm.datasets': 'pomp_mm.cls.datasets',
    'pomp_mm.datasets.embedded': 'pomp_mm.cls.datasets',
    'pomp_mm.datasets.fewshot': 'pomp_mm.cls.datasets',
    'pomp_mm.datasets.folder': 'pomp_mm.cls.datasets',
    'pomp_mm.datasets.imagenet21k': 'pomp_mm.cls.datasets',
    'pomp_mm.datasets.transfer': 'pomp_mm.cls.datasets',
    # configs custom_import it to register MiniWorldSegDataset
    'pomp_mm.seg.datasets': 'pomp_mm.benchmarks.miniworld',
    'pomp_mm.core.compat': 'pomp_mm.compat.mmengine',
    'pomp_mm.core.classnames': 'pomp_mm.core.vocabulary',
    'pomp_mm.det.lvis_compat': 'pomp_mm.compat.lvis',
}
#: Task modules whose module-level ``__getattr__`` may import the benchmark
#: (a moved class, from its old path, on demand).
LAZY_OLD_PATHS = {
    'pomp_mm.cls.retrieval': 'pomp_mm.benchmarks.miniworld.captions',
    'pomp_mm.det.datasets': 'pomp_mm.benchmarks.miniworld.det',
}


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def _module_name(path: str) -> str:
    rel = osp.relpath(path, ROOT)[:-len('.py')].split(os.sep)
    return '.'.join(rel[:-1] if rel[-1] == '__init__' else rel)


def _python_files(folder: str):
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        for name in sorted(filenames):
            if name.endswith('.py'):
                yield osp.join(dirpath, name)


def _imports(path: str):
    """``(line, imported module, inside a module-level __getattr__)``.

    ``from a import b`` yields ``a.b`` too (``b`` may be a module)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    module = _module_name(path)
    package = module if path.endswith('__init__.py') else \
        module.rpartition('.')[0]
    lazy = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == '__getattr__':
            lazy.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in lazy
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            yield node.lineno, base, id(node) in lazy
            for alias in node.names:
                yield node.lineno, f'{base}.{alias.name}', id(node) in lazy


def _package_imports(*folders):
    for path in (p for f in folders or (PACKAGE, ) for p in _python_files(f)):
        module = _module_name(path)
        for line, name, lazy in _imports(path):
            if name.startswith('pomp_mm'):
                yield module, f'{osp.relpath(path, ROOT)}:{line}', name, lazy


def _violations(rule, *folders) -> list:
    return [f'{where} imports {name}'
            for module, where, name, lazy in _package_imports(*folders)
            if rule(module, name, lazy)]


def test_core_imports_no_task_benchmark_or_cli():
    forbidden = TASKS + BENCHMARKS + ('pomp_mm.utils', 'pomp_mm.datasets')
    bad = _violations(lambda module, name, lazy: _under(module, CORE)
                      and _under(name, forbidden))
    assert not bad, bad


def test_engine_between_tasks_and_benchmarks():
    def rule(module, name, lazy):
        if _under(module, CORE + TASKS):
            return _under(name, ENGINE)
        return _under(module, ENGINE) and _under(name, BENCHMARKS)
    bad = _violations(rule)
    assert not bad, bad


def test_tasks_import_no_benchmark():
    def rule(module, name, lazy):
        if not _under(module, TASKS) or not _under(name, BENCHMARKS):
            return False
        if module in SHIMS and _under(name, (SHIMS[module], )):
            return False
        return not (lazy and module in LAZY_OLD_PATHS
                    and name.startswith(LAZY_OLD_PATHS[module]))
    bad = _violations(rule)
    assert not bad, bad


def test_tasks_import_no_other_task():
    """cls, seg and det each adapt one codebase and share only the core."""
    def rule(module, name, lazy):
        own = [t for t in TASKS if _under(module, (t, ))]
        return bool(own) and _under(name, TASKS) and \
            not _under(name, tuple(own))
    bad = _violations(rule)
    assert not bad, bad


def test_nothing_imports_an_old_path():
    """Old paths are for users; pomp_mm and its tools import the new
    ones."""
    def rule(module, name, lazy):
        if module in SHIMS or lazy:
            return False
        return any(_under(name, (old, )) and not _under(name, (new, ))
                   for old, new in SHIMS.items()
                   if not _under(module, (old, )))
    bad = _violations(rule, PACKAGE, TOOLS)
    assert not bad, bad


def test_shims_are_thin_and_point_at_their_new_home():
    """Each listed shim exists, says where its code went, and holds no
    code of its own (imports, ``sys.modules``, ``main()`` and __all__)."""
    for module, new in SHIMS.items():
        rel = module.replace('.', os.sep)
        path = osp.join(ROOT, rel, '__init__.py')
        if not osp.isfile(path):
            path = osp.join(ROOT, rel + '.py')
        assert osp.isfile(path), f'shim {module}: no file'
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        doc = ast.get_docstring(tree) or ''
        assert doc.startswith('Moved to') and new in doc and \
            'kept for this release' in doc, f'{path}: docstring {doc!r}'
        for node in tree.body[1:]:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign,
                                     ast.If)), \
                f'{path}:{node.lineno}: a shim holds only imports'
        targets = [name for _, name, _ in _imports(path)
                   if name.startswith('pomp_mm')]
        assert targets and all(_under(t, (new, )) for t in targets), \
            f'{path} imports {targets}; expected only {new}'


def test_lazy_old_paths_still_answer():
    """The old import paths of moved benchmark classes give the moved
    class (the module ``__getattr__`` the rule above allows)."""
    pytest.importorskip('mmdet')
    from pomp_mm.benchmarks.miniworld.captions import MiniWorldCaptions
    from pomp_mm.benchmarks.miniworld.det import MiniWorldCocoDataset
    import pomp_mm.cls
    import pomp_mm.cls.retrieval
    import pomp_mm.det
    import pomp_mm.det.datasets
    assert pomp_mm.cls.MiniWorldCaptions is MiniWorldCaptions
    assert pomp_mm.cls.retrieval.MiniWorldCaptions is MiniWorldCaptions
    assert pomp_mm.det.MiniWorldCocoDataset is MiniWorldCocoDataset
    assert pomp_mm.det.datasets.MiniWorldCocoDataset is MiniWorldCocoDataset
    with pytest.raises(AttributeError, match='no attribute'):
        pomp_mm.det.datasets.NoSuchName  # noqa: B018


def _tool_loads(path: str, tools: set):
    """Lines of a tool that load another tool."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    found = []

    def mentions_tools_dir(node) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) \
                    and ('tools' in sub.value.split('/')
                         or sub.value in tools
                         or sub.value[:-3] in tools):
                return True
        # osp.dirname(osp.abspath(__file__)): the tools folder itself
        # (two dirname calls, the repository root, are fine)
        dirnames = sum(isinstance(s, ast.Call) and getattr(
            s.func, 'attr', getattr(s.func, 'id', '')) == 'dirname'
            for s in ast.walk(node))
        has_file = any(isinstance(s, ast.Name) and s.id == '__file__'
                       for s in ast.walk(node))
        return has_file and dirnames == 1

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f'import {a.name}') for a in node.names
                      if a.name.split('.')[0] in tools]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if (node.module or '').split('.')[0] in tools:
                found.append((node.lineno, f'from {node.module} import'))
        elif isinstance(node, ast.Call):
            name = getattr(node.func, 'attr', getattr(node.func, 'id', ''))
            target = node.func.value if isinstance(
                node.func, ast.Attribute) else None
            is_path = (name in ('insert', 'append') and isinstance(
                target, ast.Attribute) and target.attr == 'path')
            if name in ('spec_from_file_location', 'run_path',
                        'import_module', 'SourceFileLoader') or is_path:
                if any(mentions_tools_dir(a) for a in node.args):
                    found.append((node.lineno, name))
    return found


def test_no_tool_loads_another_tool():
    tools = {osp.splitext(n)[0] for n in os.listdir(TOOLS)
             if n.endswith('.py')}
    bad = [f'tools/{osp.basename(path)}:{line}: {what}'
           for path in _python_files(TOOLS)
           for line, what in _tool_loads(path, tools)]
    assert not bad, bad


def test_the_checker_sees_violations(tmp_path):
    """The checks above can fail: each kind of violation is found."""
    tools = {'train', 'train_tiny_clip'}
    tool = tmp_path / 'a.py'
    tool.write_text(
        'import importlib.util, os.path as osp, sys\n'
        'import train_tiny_clip\n'
        'from train import main\n'
        "sys.path.insert(0, osp.dirname(osp.abspath(__file__)))\n"
        "spec = importlib.util.spec_from_file_location('t', 'tools/t.py')\n"
        "sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))"
        '\n')
    assert [line for line, _ in _tool_loads(str(tool), tools)] == [
        2, 3, 4, 5]
    lazy = tmp_path / 'b.py'
    lazy.write_text('from pomp_mm.benchmarks import x\n'
                    'def __getattr__(name):\n'
                    '    from pomp_mm.benchmarks.miniworld import y\n')
    assert [(line, name, inside) for line, name, inside in _imports(
        str(lazy)) if name.endswith(('benchmarks', 'miniworld'))] == [
        (1, 'pomp_mm.benchmarks', False),
        (3, 'pomp_mm.benchmarks.miniworld', True)]
