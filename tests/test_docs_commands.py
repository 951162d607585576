"""Every command and snippet of README.md and docs/*.md is checked (issue 17).

Nothing is run: every check parses. What is checked, per fenced code block
(and per inline command, see below):

* ``python`` / ``py`` blocks: ``ast.parse``; every name the block loads is
  imported, assigned or defined in it, or a builtin (``torch`` used without
  ``import torch`` fails); every ``from pomp_mm.X import a, b`` and
  ``import pomp_mm.X`` names a module and attributes that exist; a call of an
  imported ``pomp_mm`` callable binds to its signature (keyword names and
  the number of positional arguments); a string that names a repo file
  (``tools/...``, ``configs/...``, ``pomp_mm/...``, ``tests/...``) exists.
* ``bash`` / ``shell`` / ``sh`` / ``console`` blocks, and any line of an
  unlabelled block that starts like a command: lines joined at ``\\``,
  split at ``&&``, ``||``, ``;`` and ``|``, ``#`` comments dropped,
  ``VAR=value`` lines expanded in later ``$VAR``/``${VAR}``, optional
  arguments written ``[--opt V]`` are checked as if given.  For
  ``python tools/X.py ...``, ``.venv/bin/python tools/X.py``, ``torchrun
  ... tools/X.py``, ``bash tools/dist_train.sh CONFIG N ...``,
  ``bash tools/dist_test.sh CONFIG CKPT N ...`` and ``python -m pomp_mm...``:
  the tool or module exists and has a ``main``; its argparse parser (the very
  parser its ``main(argv)`` builds, captured at ``parse_args`` so no work
  runs) accepts the arguments; repo paths in the command exist (paths under
  ``data/``, ``work_dirs/``, ``checkpoints/`` and ``docs/`` are inputs or
  outputs and are not checked); every ``--cfg-options`` key exists in the
  named config, or is an argument of the class its parent dict's ``type``
  names, or is a top-level argument of ``mmengine.runner.Runner``. A
  ``zs_weight_path`` set by a command must be a ``.npy`` that a
  ``tools/dump_text_features.py`` command of the same page writes, and its
  ``--classes`` must have as many names as the (merged) bbox head's
  ``num_classes``. ``python -m pytest PATHS``: the paths exist.
  ``python -c CODE``: CODE parses and its ``pomp_mm`` imports exist.
* inline code spans are commands when they start with ``python``,
  ``.venv/bin/python``, ``bash`` or ``torchrun``, or with ``tools/X.py``
  followed by an option that has a value (``tools/X.py --opt V``), unless
  they contain ``...`` (explicitly elided); other spans are mentions.

Conventions a doc can use (an HTML comment on the last non-blank line above
the fence):

* ``<!-- continues -->``: this python block continues the previous python
  block of the same file; names defined there count as defined.
* ``<!-- uses: NAME NAME -->``: names this block takes from the reader's
  own context (e.g. ``train_pipeline`` in a config fragment).
* ``text`` blocks (and unlabelled blocks whose lines do not start like a
  command) are output, usage synopses or file trees and are never checked.

The two README commands that run (``tools/miniworld.py`` and the test
suite) are run by CI, not here.
"""
import argparse
import ast
import builtins
import contextlib
import copy
import functools
import glob
import importlib
import importlib.util
import inspect
import io
import os.path as osp
import re
import shlex
from typing import Dict, List, NamedTuple, Optional, Tuple
from unittest import mock

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = ['README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '*.md')))
PYTHON_LANGS = {'python', 'py'}
SHELL_LANGS = {'bash', 'shell', 'sh', 'console'}
#: path prefixes that name files of this repository (checked to exist)
REPO_PREFIXES = ('configs/', 'tools/', 'pomp_mm/', 'tests/')
#: a path with one of these is a placeholder (``<config>``, ``.../``)
PLACEHOLDER = re.compile(r'<|>|\.\.\.|\*|\{|\}|\$')
#: what ``bash tools/dist_*.sh`` passes on: (tool, positionals kept before
#: the GPU count, index of the first argument passed on after it)
DIST_SCRIPTS = {'dist_train.sh': ('train.py', 1, 2),
                'dist_test.sh': ('test.py', 2, 3)}
COMMAND_START = re.compile(
    r'^(\S*/)?(python3?|bash|torchrun)(\s|$)')
INLINE_TOOL = re.compile(r'^tools/\w+\.py\s+--[\w-]+[ =][^-\s]')


class Block(NamedTuple):
    path: str       # relative to ROOT
    line: int       # 1-based line of the opening fence (or of the span)
    lang: str       # fence label, 'inline' for a span
    text: str
    marker: str     # the HTML comment above the fence, '' if none


def read_blocks(path: str, text: Optional[str] = None) -> List[Block]:
    """Fenced blocks and inline command spans of a markdown file."""
    if text is None:
        with open(osp.join(ROOT, path), encoding='utf-8') as f:
            text = f.read()
    lines = text.splitlines()
    blocks: List[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r'^\s*```\s*([\w+-]*)\s*$', lines[i])
        if not m:
            for span in re.findall(r'`([^`\n]+)`', lines[i]):
                span = span.strip()
                if '...' not in span and (COMMAND_START.match(span)
                                          or INLINE_TOOL.match(span)):
                    blocks.append(Block(path, i + 1, 'inline', span, ''))
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        marker = ''
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0:
            c = re.match(r'^\s*<!--(.*)-->\s*$', lines[j])
            if c:
                marker = c.group(1).strip()
        body = []
        i += 1
        while i < len(lines) and not re.match(r'^\s*```\s*$', lines[i]):
            body.append(lines[i])
            i += 1
        indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()),
                     default=0)
        blocks.append(Block(path, start + 1, lang,
                            '\n'.join(b[indent:] for b in body), marker))
        i += 1
    return blocks


# -- python blocks ----------------------------------------------------------
def _defined_and_loaded(tree: ast.AST) -> Tuple[set, Dict[str, int]]:
    defined, loaded = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.setdefault(node.id, node.lineno)
            else:
                defined.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                defined.add((alias.asname or alias.name).split('.')[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                               ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    return defined, loaded


def _pomp_imports(tree: ast.AST) -> List[Tuple[int, str, Optional[str],
                                                str]]:
    """(line, module, attribute or None, local name) of pomp_mm imports."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.level == 0 and node.module.split('.')[0] == 'pomp_mm':
            for alias in node.names:
                out.append((node.lineno, node.module, alias.name,
                            alias.asname or alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'pomp_mm':
                    out.append((node.lineno, alias.name, None,
                                alias.asname or alias.name))
    return out


def import_problems(tree: ast.AST) -> Tuple[List[str], Dict[str, object]]:
    """Problems of the pomp_mm imports, and the objects they import."""
    problems, objects = [], {}
    for line, module, attr, local in _pomp_imports(tree):
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            problems.append(f'line {line}: module {module} does not import '
                            f'({exc})')
            continue
        if attr is None:
            continue
        if hasattr(mod, attr):
            objects[local] = getattr(mod, attr)
        elif importlib.util.find_spec(f'{module}.{attr}') is None:
            problems.append(f'line {line}: {module} has no {attr!r}')
    return problems, objects


def call_problems(tree: ast.AST, objects: Dict[str, object]) -> List[str]:
    """Calls of imported pomp_mm callables that do not fit the signature."""
    problems = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in objects):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or \
                any(k.arg is None for k in node.keywords):
            continue
        obj = objects[node.func.id]
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        try:
            sig.bind(*range(len(node.args)),
                     **{k.arg: None for k in node.keywords})
        except TypeError as exc:
            problems.append(f'line {node.lineno}: {node.func.id}(...) does '
                            f'not fit {node.func.id}{sig}: {exc}')
    return problems


def repo_path_problem(token: str) -> Optional[str]:
    if token.startswith('./'):
        token = token[2:]
    if not token.startswith(REPO_PREFIXES) or PLACEHOLDER.search(token):
        return None
    if not osp.exists(osp.join(ROOT, token)):
        return f'{token}: no such file in the repository'
    return None


def python_problems(block: Block, inherited: set) -> Tuple[List[str], set]:
    """Problems of one python block, and the names it defines."""
    try:
        tree = ast.parse(block.text)
    except SyntaxError as exc:
        return [f'does not parse: {exc.msg} (line {exc.lineno} of the '
                'block)'], set()
    problems, objects = import_problems(tree)
    problems += call_problems(tree, objects)
    defined, loaded = _defined_and_loaded(tree)
    uses = set()
    if block.marker.startswith('uses:'):
        uses = set(block.marker[len('uses:'):].split())
    known = defined | inherited | uses | set(dir(builtins))
    for name, line in sorted(loaded.items(), key=lambda kv: kv[1]):
        if name not in known:
            problems.append(
                f'line {line}: {name!r} is used but not imported or defined '
                'in the block (import it, or mark the block '
                '<!-- continues --> / <!-- uses: NAME -->)')
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            problem = repo_path_problem(node.value)
            if problem:
                problems.append(f'line {node.lineno}: {problem}')
    return problems, defined


# -- shell commands -----------------------------------------------------------
def shell_commands(text: str, lang: str) -> List[Tuple[int, List[str]]]:
    """(line in block, argv) of each command; variables expanded."""
    logical, buf, first = [], '', 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            first = n
        if raw.rstrip().endswith('\\'):
            buf += raw.rstrip()[:-1] + ' '
            continue
        logical.append((first, buf + raw))
        buf = ''
    if buf:
        logical.append((first, buf))
    vars_: Dict[str, str] = {}
    commands = []
    for n, line in logical:
        stripped = line.strip()
        if stripped.startswith('$ '):
            stripped = stripped[2:]
        if not stripped or stripped.startswith('#'):
            continue
        if lang not in SHELL_LANGS and not COMMAND_START.match(stripped):
            continue  # unlabelled block: only lines that start a command
        expanded = re.sub(r'\$\{?(\w+)\}?',
                          lambda m: vars_.get(m.group(1), m.group(0)),
                          stripped)
        lexer = shlex.shlex(expanded, posix=True, punctuation_chars=';&|')
        lexer.whitespace_split = True
        lexer.commenters = '#'
        tokens = list(lexer)
        argv: List[str] = []
        for tok in tokens + [';']:
            if tok and set(tok) <= set(';&|'):
                if argv:
                    commands.append((n, argv))
                argv = []
                continue
            argv.append(tok)
        # VAR=value alone on a line sets a variable for the later lines
        if commands and commands[-1][0] == n and len(commands[-1][1]) == 1:
            m = re.match(r'^(\w+)=(.*)$', commands[-1][1][0])
            if m:
                vars_[m.group(1)] = m.group(2)
                commands.pop()
    return commands


def _unbracket(args: List[str]) -> List[str]:
    """``[--opt V]`` (an optional argument in a synopsis) -> ``--opt V``."""
    out = []
    for a in args:
        a = a[1:] if a.startswith('[') and len(a) > 1 else a
        a = a[:-1] if a.endswith(']') and len(a) > 1 and \
            not a.endswith('[]') else a
        out.append(a)
    return out


class _Captured(Exception):
    pass


@functools.lru_cache(maxsize=None)
def tool_parser(module: str) -> argparse.ArgumentParser:
    """The parser ``module.main(argv)`` builds, captured before it parses."""
    mod = importlib.import_module(module)
    captured = []

    def capture(self, args=None, namespace=None):
        captured.append(self)
        raise _Captured

    with mock.patch.object(argparse.ArgumentParser, 'parse_args', capture):
        try:
            mod.main([])
        except _Captured:
            pass
    assert captured, f'{module}.main(argv) never called parse_args'
    return captured[0]


def parse_problem(module: str, args: List[str]):
    """(None, namespace) when the parser accepts args, else (message, None)."""
    parser = tool_parser(module)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
        try:
            return None, parser.parse_args(args)
        except SystemExit:
            lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
            last = lines[-1] if lines else 'error: the parser refused it'
            # 'PROG: error: MSG' -> 'error: MSG' (PROG is the test runner's)
            return last[last.find('error: '):], None


def tool_module(tool: str) -> Tuple[Optional[str], Optional[str]]:
    """``tools/X.py`` -> (module whose main it runs, problem)."""
    path = osp.join(ROOT, tool)
    if not osp.isfile(path):
        return None, f'{tool}: no such tool'
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and \
                any(a.name == 'main' for a in node.names):
            return node.module, None
    return None, f'{tool}: does not import a package main()'


@functools.lru_cache(maxsize=None)
def load_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, path))


@functools.lru_cache(maxsize=None)
def _runner_args() -> frozenset:
    from mmengine.runner import Runner
    return frozenset(inspect.signature(Runner.__init__).parameters)


def _resolve_type(type_name, scope: Optional[str]):
    if not isinstance(type_name, str):
        return type_name if inspect.isclass(type_name) or callable(
            type_name) else None
    import mmengine.registry as reg
    roots = [getattr(reg, n) for n in dir(reg)
             if isinstance(getattr(reg, n), reg.Registry)]
    names = [type_name] if '.' in type_name or not scope else \
        [f'{scope}.{type_name}', type_name]
    for root in roots:
        for name in names:
            try:
                obj = root.get(name)
            except Exception:  # noqa: BLE001 - a registry that cannot tell
                obj = None
            if obj is not None:
                return obj
    return None


def _accepts(obj, name: str) -> bool:
    targets = [c.__init__ for c in inspect.getmro(obj)
               if '__init__' in vars(c)] if inspect.isclass(obj) else [obj]
    for target in targets:
        try:
            if name in inspect.signature(target).parameters:
                return True
        except (TypeError, ValueError):
            continue
    return False


def cfg_key_problem(cfg, key: str) -> Optional[str]:
    """None when ``key`` (a --cfg-options key) fits the config."""
    parts = key.split('.')
    node = cfg.to_dict()
    scope = node.get('default_scope')
    for i, part in enumerate(parts):
        where = '.'.join(parts[:i]) or 'the config'
        if isinstance(node, (list, tuple)) and part.lstrip('-').isdigit():
            if int(part) >= len(node):
                return f'{key}: {where} has {len(node)} items'
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict):
            if i == 0 and part in _runner_args():
                return None  # a Runner argument the config leaves default
            obj = _resolve_type(node.get('type'), scope)
            if i == len(parts) - 1 and obj is not None and \
                    _accepts(obj, part):
                return None  # an argument of the class `type` names
            what = f" (type {node.get('type')!r})" if 'type' in node else ''
            return (f'{key}: {where}{what} has no key {part!r} (keys: '
                    f'{", ".join(sorted(map(str, node)))})')
        else:
            return f'{key}: {where} is a {type(node).__name__}, not a dict'
    return None


def _count_names(path: str) -> Optional[int]:
    from pomp_mm.core.vocabulary import read_vocabulary
    full = osp.join(ROOT, path)
    if not osp.isfile(full):
        return None
    return len(read_vocabulary(full))


def _zs_heads(node, head=None):
    """(zs_weight_path, the num_classes of the enclosing head) pairs."""
    if isinstance(node, dict):
        if 'num_classes' in node:
            head = node
        if node.get('zs_weight_path') is not None:
            yield node['zs_weight_path'], (head or {}).get('num_classes')
        for value in node.values():
            yield from _zs_heads(value, head)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _zs_heads(value, head)


def config_problems(config: str, cfg_options: Optional[dict],
                    dumps: Dict[str, str]) -> List[str]:
    cfg = load_config(config)
    problems = []
    for key in (cfg_options or {}):
        problem = cfg_key_problem(cfg, key)
        if problem:
            problems.append(f'--cfg-options {problem}')
    if problems or not cfg_options:
        return problems
    merged = copy.deepcopy(cfg)
    merged.merge_from_dict(cfg_options)
    for npy, num_classes in _zs_heads(merged.to_dict()):
        if npy not in dumps:
            problems.append(
                f'zs_weight_path {npy}: no tools/dump_text_features.py '
                'command of this page writes it (--out), so its row count '
                f'cannot be checked against num_classes={num_classes}')
            continue
        n = _count_names(dumps[npy])
        if n is None:
            continue  # a names file under data/: an input
        if n != num_classes:
            problems.append(
                f'zs_weight_path {npy}: {n} rows (--classes {dumps[npy]}) '
                f'but the bbox head has num_classes={num_classes}; set '
                f'model.roi_head.bbox_head.num_classes={n}')
    return problems


def _python_c_problems(code: str) -> List[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [f'python -c code does not parse: {exc.msg}']
    return import_problems(tree)[0]


def command_problems(argv: List[str], dumps: Dict[str, str]) -> List[str]:
    """Problems of one shell command (an empty list when it is fine)."""
    argv = _unbracket(argv)
    while argv and re.match(r'^\w+=', argv[0]):
        argv = argv[1:]  # VAR=value cmd
    if not argv:
        return []
    prog, args = argv[0], argv[1:]
    problems = [p for p in map(repo_path_problem, argv) if p]
    for a in args:  # --opt=repo/path
        if a.startswith('--') and '=' in a:
            p = repo_path_problem(a.split('=', 1)[1])
            if p:
                problems.append(p)
    name = osp.basename(prog)
    module = script = None
    if name == 'torchrun' or (re.match(r'python3?$', name) and
                              args[:2] == ['-m', 'torch.distributed.run']):
        args = args[2:] if name != 'torchrun' else args
        while args and not args[0].endswith('.py'):
            args = args[1:]
        if not args:
            return problems + ['torchrun: no script']
        script, args = args[0], args[1:]
    elif re.match(r'python3?$', name):
        if not args:
            return problems
        if args[0] == '-m':
            module, args = args[1], args[2:]
            if module == 'pytest':
                return problems
            if not module.startswith('pomp_mm'):
                return problems
            if importlib.util.find_spec(module) is None:
                return problems + [f'python -m {module}: no such module']
            mod = importlib.import_module(module)
            if not hasattr(mod, 'main'):
                return problems + [f'python -m {module}: it has no main()']
        elif args[0] == '-c':
            return problems + _python_c_problems(args[1])
        elif args[0].endswith('.py'):
            script, args = args[0], args[1:]
        else:
            return problems
    elif name == 'bash' or prog.endswith('.sh'):
        script = prog if prog.endswith('.sh') else (args[0] if args else '')
        args = args if prog.endswith('.sh') else args[1:]
        base = osp.basename(script)
        if base in DIST_SCRIPTS:
            tool, keep, rest = DIST_SCRIPTS[base]
            if len(args) < rest:
                return problems + [f'{script}: needs {rest} arguments '
                                   f'(got {len(args)})']
            if not args[keep].isdigit():
                return problems + [f'{script}: the GPU count '
                                   f'{args[keep]!r} is not a number']
            script = osp.join(osp.dirname(script), tool)
            args = args[:keep] + args[rest:]
        else:
            return problems  # setup_env.sh & co: existence checked above
    elif prog.endswith('.py'):
        script = prog
    else:
        return problems  # not a command of this repository
    if script is not None:
        if not script.startswith('tools/'):
            return problems
        module, problem = tool_module(script)
        if problem:
            return problems + [problem]
    problem, ns = parse_problem(module, args)
    if problem:
        return problems + [f'{script or module}: {problem}']
    config = getattr(ns, 'config', None)
    if isinstance(config, str) and config.startswith('configs/') and \
            osp.isfile(osp.join(ROOT, config)):
        problems += config_problems(config, getattr(ns, 'cfg_options', None),
                                    dumps)
    return problems


def _dump_outputs(blocks: List[Block]) -> Dict[str, str]:
    """--out -> --classes of the dump_text_features commands of a page."""
    dumps = {}
    for block in blocks:
        if block.lang in PYTHON_LANGS or block.lang == 'text':
            continue
        lang = 'bash' if block.lang == 'inline' else block.lang
        for _, argv in shell_commands(block.text, lang):
            if not any(a.endswith('tools/dump_text_features.py')
                       for a in argv):
                continue
            opts = dict(zip(argv, argv[1:]))
            if '--out' in opts and '--classes' in opts:
                dumps[opts['--out']] = opts['--classes']
    return dumps


def doc_problems(path: str, text: Optional[str] = None) -> List[str]:
    """Every problem of the blocks and commands of one markdown file."""
    blocks = read_blocks(path, text)
    dumps = _dump_outputs(blocks)
    problems, previous = [], set()
    for block in blocks:
        where = f'{block.path}:{block.line}'
        if block.lang in PYTHON_LANGS:
            inherited = previous if block.marker == 'continues' else set()
            found, defined = python_problems(block, inherited)
            previous = inherited | defined
            problems += [f'{where}: {p}' for p in found]
        elif block.lang != 'text':
            lang = 'bash' if block.lang == 'inline' else block.lang
            for n, argv in shell_commands(block.text, lang):
                line = block.line + (n if block.lang != 'inline' else 0)
                problems += [f'{block.path}:{line}: {p}'
                             for p in command_problems(argv, dumps)]
    return problems


# -- the docs ---------------------------------------------------------------
@pytest.mark.parametrize('path', DOCS)
def test_doc_commands_and_snippets(path):
    assert doc_problems(path) == []


def test_docs_have_checked_blocks():
    """The extraction finds the commands (a check of nothing passes)."""
    langs = [b.lang for p in DOCS for b in read_blocks(p)]
    assert langs.count('bash') >= 20 and langs.count('python') >= 8
    commands = [argv for p in DOCS for b in read_blocks(p)
                if b.lang in SHELL_LANGS
                for _, argv in shell_commands(b.text, b.lang)]
    tools = {a for argv in commands for a in argv if a.startswith('tools/')}
    assert {'tools/train.py', 'tools/test.py', 'tools/dump_text_features.py',
            'tools/det_demo.py', 'tools/zoo.py'} <= tools


# -- the checker itself: each rule fails on a wrong doc -----------------------
def _problems(md: str) -> List[str]:
    return doc_problems('docs/x.md', md)


def test_python_block_without_import_is_caught():
    md = ('```python\nfrom pomp_mm.core import FrozenCLIP\n'
          'x = torch.zeros(2)\n```\n')
    assert _problems(md) == [
        "docs/x.md:1: line 2: 'torch' is used but not imported or defined "
        'in the block (import it, or mark the block <!-- continues --> / '
        '<!-- uses: NAME -->)']
    assert _problems(md.replace('x =', 'import torch\nx =')) == []


def test_continues_and_uses_markers():
    first = '```python\nimport torch\n```\n\n'
    second = '```python\ny = torch.ones(1) + train_pipeline\n```\n'
    assert len(_problems(first + second)) == 2
    assert len(_problems(first + '<!-- continues -->\n' + second)) == 1
    assert _problems('<!-- uses: torch train_pipeline -->\n' + second) == []


def test_pomp_mm_import_and_signature_are_checked():
    assert _problems('```python\nfrom pomp_mm.core import NoSuchThing\n'
                     '```\n') == [
        "docs/x.md:1: line 1: pomp_mm.core has no 'NoSuchThing'"]
    assert _problems('```python\nimport pomp_mm.no_such_module\n```\n')[0] \
        .startswith('docs/x.md:1: line 1: module pomp_mm.no_such_module '
                    'does not import')
    bad_kwarg = ('```python\nfrom pomp_mm.core import FrozenCLIP\n'
                 "clip = FrozenCLIP('ViT-B-16', no_such_arg=1)\n```\n")
    (problem, ) = _problems(bad_kwarg)
    assert 'FrozenCLIP(...) does not fit' in problem and \
        'no_such_arg' in problem


def test_shell_splitting_and_variables():
    text = ('P=configs/pomp/pretrain.py\n'
            'python tools/train.py $P \\\n    --work-dir w  # comment\n'
            'a && b ; c | d\n')
    assert shell_commands(text, 'bash') == [
        (2, ['python', 'tools/train.py', 'configs/pomp/pretrain.py',
             '--work-dir', 'w']),
        (4, ['a']), (4, ['b']), (4, ['c']), (4, ['d'])]


def test_bad_tool_arguments_are_caught():
    md = ('```bash\npython tools/dump_text_features.py --prompt P '
          '--classes pomp_mm/det/classnames/lvis_v1.txt --out x.npy\n```\n')
    (problem, ) = _problems(md)
    assert problem.startswith('docs/x.md:2: tools/dump_text_features.py: ')
    assert problem.endswith('error: one of the arguments --clip-checkpoint '
                            '--random-init is required')
    assert _problems('```bash\npython tools/train.py configs/pomp/pretrain.py'
                     ' --no-such-flag\n```\n') == [
        'docs/x.md:2: tools/train.py: error: unrecognized arguments: '
        '--no-such-flag']
    assert _problems('```bash\npython tools/no_such_tool.py\n```\n') == [
        'docs/x.md:2: tools/no_such_tool.py: no such file in the repository',
        'docs/x.md:2: tools/no_such_tool.py: no such tool']
    assert _problems('```bash\npython -m pomp_mm.no_such\n```\n') == [
        'docs/x.md:2: python -m pomp_mm.no_such: no such module']
    assert _problems('```bash\n.venv/bin/python -m pytest tests/no_such.py\n'
                     '```\n') == [
        'docs/x.md:2: tests/no_such.py: no such file in the repository']
    assert _problems('```bash\npython -c "import pomp_mm.no_such"\n```\n'
                     )[0].startswith('docs/x.md:2: line 1: module '
                                     'pomp_mm.no_such does not import')
    assert _problems('```bash\nbash tools/dist_train.sh '
                     'configs/pomp/pretrain.py eight\n```\n') == [
        "docs/x.md:2: tools/dist_train.sh: the GPU count 'eight' is not a "
        'number']


def test_inline_commands_are_checked():
    md = 'Run `tools/det_demo.py --texts a` or `python tools/zoo.py --x 1`.\n'
    problems = _problems(md)
    assert len(problems) == 2 and all(p.startswith('docs/x.md:1: ')
                                      for p in problems)
    # a mention, and an explicitly elided command, are not commands
    assert _problems('`tools/test.py --out` and `tools/test.py --out x ...`'
                     '\n') == []


def test_repo_paths_and_cfg_keys_are_checked():
    assert _problems('```bash\npython tools/test.py configs/no/such.py\n'
                     '```\n') == [
        'docs/x.md:2: configs/no/such.py: no such file in the repository']
    (problem, ) = _problems(
        '```bash\npython tools/train.py configs/pomp/pretrain.py '
        '--cfg-options model.loss.no_such_key=1\n```\n')
    assert problem.startswith('docs/x.md:2: --cfg-options '
                              "model.loss.no_such_key: model.loss (type ")
    assert "has no key 'no_such_key'" in problem
    # an argument of the class `type` names (FrozenCLIP's precision, not in
    # the config), and a Runner argument, fit; another key does not
    clip = 'model.prompt_learner.clip'
    assert _problems('```bash\npython tools/train.py configs/pomp/pretrain.py'
                     f' --cfg-options randomness.seed=0 {clip}.precision=fp16'
                     '\n```\n') == []
    (problem, ) = _problems(
        '```bash\npython tools/train.py configs/pomp/pretrain.py '
        f'--cfg-options {clip}.no_such_arg=1\n```\n')
    assert problem.startswith(
        f"docs/x.md:2: --cfg-options {clip}.no_such_arg: {clip} (type "
        "'FrozenCLIP') has no key 'no_such_arg' (keys: ")


def test_zs_weight_path_needs_the_dump_and_num_classes():
    head = 'model.roi_head.bbox_head'
    dump = ('python tools/dump_text_features.py --model ViT-B-16 '
            '--random-init --classes pomp_mm/det/classnames/coco.txt '
            '--out coco.npy\n')
    test = ('python tools/test.py configs/det/ov-lvis_pomp_faster-rcnn_r50_'
            f'fpn_2x.py --cfg-options {head}.cls_predictor_cfg.prompt_learner'
            f'=None {head}.cls_predictor_cfg.zs_weight_path=coco.npy')
    (problem, ) = _problems(f'```bash\n{dump}{test}\n```\n')
    assert problem == (
        'docs/x.md:3: zs_weight_path coco.npy: 80 rows (--classes '
        'pomp_mm/det/classnames/coco.txt) but the bbox head has '
        f'num_classes=1203; set {head}.num_classes=80')
    assert _problems(f'```bash\n{dump}{test} {head}.num_classes=80\n```\n') \
        == []
    (problem, ) = _problems(f'```bash\n{test}\n```\n')
    assert problem.startswith('docs/x.md:2: zs_weight_path coco.npy: no '
                              'tools/dump_text_features.py command')
