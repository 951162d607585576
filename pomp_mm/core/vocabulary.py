"""The one place pomp_mm reads, cleans and chooses class vocabularies.

**Reading.** :func:`read_vocabulary` is the one reader: a list of names, a
class-name file, or (where a task passes ``builtins``) the name of a list
shipped with the package (detection's ``'coco'``, ``'lvis_v1'``, ...). A
list and a file get the same checks (:func:`find_name_problem`).
:func:`clean_classname` is the one cleaning (``'_'`` read as a space).

**Files.** Two formats are understood:

* a *plain* names file: one class name per line, in label order::

      red circle
      blue square

* a *wnid* names file: ``<wnid><TAB or spaces><name>`` per line, e.g. the
  ``classnames.txt`` of CoOp's ImageNet::

      n01440764 tench
      n01443537 goldfish

A blank line is always an error: silently skipping it would shift every
label after it. A file gets exactly the checks a list of names gets
(:func:`find_name_problem`): a name that cleans to nothing (``_``) and two
names that clean to the same prompt text (``red_circle``, ``red circle``)
are refused. Files are UTF-8; a leading byte-order mark (Windows editors
write one) is dropped rather than kept inside the first name. Every error
is a single line naming the file, the line number and the offending value.

**Which vocabulary a model uses** (:class:`PhaseVocabularies`, the same
rule in classification, segmentation and detection). For each phase
(``'train'``, ``'test'``) the first of these that exists is used:

1. the *explicit* setting: the model config's ``train_vocabulary`` /
   ``test_vocabulary`` (``vocabulary`` for the test phase of the template
   classifiers), or a direct ``model.set_vocabulary(names, mode)`` call;
2. the *dataset's* classes: :class:`~pomp_mm.core.VocabularyHook` offers
   the ``metainfo['classes']`` of the phase's dataset (detection: first the
   batch's ``data_sample.text``). An offer never replaces an explicit
   setting; the model logs once that it kept its own;
3. for the test phase only, the training vocabulary of 1-2 (the model is
   tested on the classes it learned), logged once; training never falls
   back to the test classes (that would train on them);
4. the *built-in* vocabulary the model's text side was built with (the
   segmentors' text encoder, ZSSeg's seen classes, the detector's
   classifier); for the test phase, then the training one;
5. otherwise an error naming ``VocabularyHook`` and the config keys
   (a detector whose classifier holds ``.npy`` features keeps them).

The choice is cached as a token, so a training step compares one integer,
never the names (21K strings for ImageNet-21K).
"""
import codecs
import json
import os.path as osp
import re
from typing import (Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch
from mmengine.logging import print_log

WNID_PATTERN = re.compile(r'^n\d{8}$')


def split_dotted(text: str) -> List[str]:
    """Class names of a ``'a . b . c'`` string, GLIP's and mmdet's
    ``DetInferencer(texts=...)`` form (a trailing ``' .'`` is allowed; a
    string without ``' . '`` is one name).

    Args:
        text (str): The names joined by ``' . '``.

    Returns:
        list[str]: The stripped, non-empty names (maybe none).
    """
    names = [t.strip() for t in text.split(' . ')]
    names = [n[:-1].strip() if n.endswith('.') else n for n in names]
    return [n for n in names if n]


def clean_classname(name: str) -> str:
    """Turn a folder-style class name into prompt text.

    This is exactly what the official POMP / CoOp code does
    (``name.replace('_', ' ')``), plus stripping surrounding whitespace.

    Args:
        name (str): A raw class name, e.g. ``'red_circle'``.

    Returns:
        str: The cleaned name, e.g. ``'red circle'``.
    """
    return name.replace('_', ' ').strip()


def resolve_path(path: str, data_root: Optional[str] = None) -> str:
    """Resolve a file path given in a dataset config.

    Absolute paths are returned unchanged. A relative path is looked up under
    ``data_root`` first (the mmengine convention for ``ann_file``); when it
    is not there but exists relative to the working directory, that one is
    used. Otherwise the ``data_root``-joined path is returned so that the
    caller's error message names the expected location.

    Args:
        path (str): The configured path (``~`` is expanded).
        data_root (str, optional): The dataset root. Defaults to None.

    Returns:
        str: The resolved path.
    """
    path = osp.expanduser(path)
    if osp.isabs(path) or not data_root:
        return path
    joined = osp.join(osp.expanduser(data_root), path)
    if not osp.exists(joined) and osp.exists(path):
        return path
    return joined


def read_lines(path: str, what: str = 'classes file') -> List[str]:
    """Read a text file into stripped lines, rejecting blank lines.

    Args:
        path (str): The file to read.
        what (str): How the file is called in error messages.
            Defaults to ``'classes file'``.

    Returns:
        list[str]: One stripped string per line.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not UTF-8, is empty or has a blank line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path}: file not found; expected a '
                                'text file with one class name per line')
    with open(path, 'rb') as f:
        raw = _split_lines(_decode(f.read(), path, what))
    if raw[-1] == '':  # a single trailing newline is normal
        raw.pop()
    # Trailing blank lines are not.
    lines = [line.strip() for line in raw]
    if not any(lines):
        raise ValueError(f'{what} {path}: file is empty; expected one class '
                         'name per line')
    for lineno, line in enumerate(lines, start=1):
        if not line:
            raise ValueError(f'{what} {path}: line {lineno} is empty; '
                             'expected one class name per line')
    return lines


def _split_lines(text: str) -> List[str]:
    """Lines as an editor shows them: split at ``\\n``, ``\\r\\n`` or ``\\r``.

    Not :meth:`str.splitlines`, which also splits inside a line at a form
    feed or U+2028: an extra class, and every line number after it off.
    """
    return re.split(r'\r\n|\r|\n', text)


def _decode(data: bytes, path: str, what: str) -> str:
    """UTF-8 text of a file, without a leading byte-order mark.

    Python's ``'utf-8'`` codec keeps the BOM as ``'\\ufeff'``, which would
    silently become part of the first class name; bytes that are not UTF-8
    (a Latin-1 ``\\xe9``) would raise a ``UnicodeDecodeError`` that names
    neither the file nor the line.

    Args:
        data (bytes): The file's content.
        path (str): The file (for the message).
        what (str): How the file is called in error messages.

    Returns:
        str: The decoded text.

    Raises:
        ValueError: If ``data`` is UTF-16 or not valid UTF-8.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ValueError(f'{what} {path}: file is UTF-16 text (it starts '
                         'with a UTF-16 byte-order mark); expected UTF-8 '
                         'text, re-save it as UTF-8')
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        before = _split_lines(data[:e.start].decode('utf-8'))
        raise ValueError(
            f'{what} {path}: line {len(before)} is not UTF-8 (byte '
            f'0x{data[e.start]:02x} at byte '
            f'{len(before[-1].encode("utf-8")) + 1} of the line); expected '
            'UTF-8 text, re-save the file as UTF-8 (it may be Latin-1: '
            'iconv -f latin1 -t utf-8)') from None


def find_name_problem(names: Sequence[str],
                      allow_duplicates: bool = False
                      ) -> Optional[Tuple[int, Optional[int]]]:
    """The first bad class name of a list, as a list or a file gives it.

    One check for both sources, so a file is refused exactly when the same
    names given as a list are: a name that :func:`clean_classname` turns
    into nothing (``'_'``), or (unless ``allow_duplicates``) a name whose
    prompt text repeats an earlier one (``'red_circle'`` after
    ``'red circle'``: the two classes would get the same text feature).

    Args:
        names (Sequence[str]): The class names in label order.
        allow_duplicates (bool): Accept repeated names. Defaults to False.

    Returns:
        tuple[int, int | None] | None: ``(i, None)`` if name ``i`` is
        empty once cleaned, ``(i, j)`` if name ``i`` repeats name ``j``
        (``j < i``), None if every name is fine.
    """
    first_seen: Dict[str, int] = {}
    for i, name in enumerate(names):
        key = clean_classname(name)
        if not key:
            return i, None
        if key in first_seen and not allow_duplicates:
            return i, first_seen[key]
        first_seen.setdefault(key, i)
    return None


def _check_names(names: Sequence[str], path: str,
                 allow_duplicates: bool) -> None:
    """:func:`find_name_problem` for the names of a file (one per line),
    as one line naming the file, the line numbers and the names.

    Raises:
        ValueError: On the first bad name.
    """
    problem = find_name_problem(names, allow_duplicates)
    if problem is None:
        return
    i, j = problem
    if j is None:
        raise ValueError(
            f'classes file {path}: line {i + 1} ({names[i]!r}) is an empty '
            "class name once '_' is read as a space; expected one class "
            'name per line')
    same = '' if names[i] == names[j] else (
        f' ({names[j]!r} and {names[i]!r} are both the prompt text '
        f'{clean_classname(names[i])!r})')
    raise ValueError(
        f'classes file {path}: duplicate class name {names[i]!r} on lines '
        f'{j + 1} and {i + 1}{same}; expected each class name once')


def _check_unique(values: Sequence[str], path: str, kind: str) -> None:
    """Raise if ``values`` has a duplicate, naming both line numbers.

    Args:
        values (Sequence[str]): One value per line of ``path``.
        path (str): The file the values come from (for the message).
        kind (str): What the values are, e.g. ``'class name'``.

    Raises:
        ValueError: On the first duplicate.
    """
    first_seen: Dict[str, int] = {}
    for lineno, value in enumerate(values, start=1):
        if value in first_seen:
            raise ValueError(
                f'classes file {path}: duplicate {kind} {value!r} on lines '
                f'{first_seen[value]} and {lineno}; expected each {kind} '
                'once')
        first_seen[value] = lineno


def load_classnames(path: str, allow_duplicates: bool = False) -> List[str]:
    """Load a plain names file: one class name per line, in label order.

    Args:
        path (str): Path of the text file.
        allow_duplicates (bool): Accept the same name on two lines. Some
            official lists have real duplicates (ImageNet-1K has two
            ``crane`` classes). Defaults to False.

    Returns:
        list[str]: The names, stripped, line ``i`` being label ``i - 1``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not UTF-8, is empty, has a blank line, a
            name that is empty once cleaned (``_``) or (unless
            ``allow_duplicates``) two names with the same prompt text
            (``red_circle`` and ``red circle``).
    """
    names = read_lines(path)
    _check_names(names, path, allow_duplicates)
    return names


def _split_wnid_line(line: str) -> Tuple[str, str]:
    """Split ``'<wnid> <name>'`` on the first run of whitespace.

    Args:
        line (str): A stripped, non-empty line.

    Returns:
        tuple[str, str]: The wnid and the (possibly empty) name.
    """
    parts = line.split(None, 1)
    return parts[0], parts[1].strip() if len(parts) > 1 else ''


def is_wnid_names_file(path: str) -> bool:
    """Tell whether every line of a names file starts with a WordNet id.

    Args:
        path (str): Path of the text file (must exist and be valid, see
            :func:`load_classnames`).

    Returns:
        bool: True for a ``wnid name`` file, False for a plain names file.
    """
    lines = read_lines(path)
    return all(WNID_PATTERN.match(_split_wnid_line(line)[0]) for line in lines)


def load_wnid_names(path: str) -> Dict[str, str]:
    """Load a ``<wnid><TAB or spaces><name>`` file.

    Duplicate *names* are accepted (WordNet has homonyms, e.g. two
    ``crane`` synsets); duplicate *wnids* are not.

    Args:
        path (str): Path of the text file.

    Returns:
        dict[str, str]: wnid -> name, in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not UTF-8, is empty, has a blank line, a
            line without a name (or a name that is empty once cleaned), or
            the same wnid twice.
    """
    lines = read_lines(path)
    pairs = [_split_wnid_line(line) for line in lines]
    for lineno, (wnid, name) in enumerate(pairs, start=1):
        if not clean_classname(name):
            got = f'has the empty name {name!r}' if name else 'has no name'
            raise ValueError(f'classes file {path}: line {lineno} ({wnid!r}) '
                             f'{got}; expected "<wnid> <name>"')
    _check_unique([wnid for wnid, _ in pairs], path, 'wnid')
    return dict(pairs)


def names_for_keys(keys: Sequence[str], path: str) -> List[str]:
    """Class names for an ordered list of class keys (folders or wnids).

    ``path`` may be a plain names file (one name per key, same order) or a
    ``<key> <name>`` file whose first column is WordNet ids.

    Args:
        keys (Sequence[str]): Class keys in label order, e.g. the sorted
            class folder names.
        path (str): The names file.

    Returns:
        list[str]: ``len(keys)`` names in label order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is malformed, its length does not match
            ``keys`` (plain file) or a key has no entry (wnid file).
    """
    if is_wnid_names_file(path):
        mapping = load_wnid_names(path)
        missing = [key for key in keys if key not in mapping]
        if missing:
            raise ValueError(
                f'classes file {path}: no name for {missing[0]!r} '
                f'({len(missing)} of {len(keys)} classes missing)')
        return [mapping[key] for key in keys]
    names = load_classnames(path)
    if len(names) != len(keys):
        raise ValueError(
            f'classes file {path}: has {len(names)} names but the dataset '
            f'has {len(keys)} classes; expected one name per class in label '
            'order')
    return names


VocabularyLike = Union[str, Sequence[str]]


def read_vocabulary(vocabulary: VocabularyLike,
                    allow_duplicates: bool = False,
                    builtins: Optional[Mapping[str, str]] = None
                    ) -> List[str]:
    """The one vocabulary reader: a list, a class-name file or a built-in.

    A list and a file get the same checks (:func:`find_name_problem`): no
    name may be empty once cleaned and, unless ``allow_duplicates``, no two
    names may have the same prompt text.

    Args:
        vocabulary (str | Sequence[str]): Class names; or the path of a text
            file holding one class name per line (see
            :func:`load_classnames`); or a key of ``builtins``.
        allow_duplicates (bool): Accept repeated names (CLIP's curated
            ImageNet names have two ``missile`` classes). Defaults to False.
        builtins (Mapping[str, str], optional): Built-in list name -> file
            (e.g. detection's ``'coco'``). With it, a string that is neither
            a file nor a built-in name nor a ``.txt`` path is refused
            naming the built-ins. Defaults to None.

    Returns:
        list[str]: The class names, in label order.
    """
    if isinstance(vocabulary, str):
        path = vocabulary
        if builtins is not None and not osp.exists(path):
            if path in builtins:
                path = builtins[path]
            elif not path.endswith('.txt'):
                raise ValueError(
                    f'vocabulary {vocabulary!r}: not a file nor a built-in '
                    'list; expected a class-name file or one of '
                    f'{tuple(builtins)}')
        return load_classnames(path, allow_duplicates=allow_duplicates)
    names = [str(n) for n in vocabulary]
    if not names:
        raise ValueError('vocabulary is empty; expected at least one class '
                         'name')
    problem = find_name_problem(names, allow_duplicates)
    if problem is not None:
        i, j = problem
        if j is None:
            raise ValueError(f'vocabulary: entry {i} ({names[i]!r}) is empty')
        raise ValueError(f'vocabulary: class name {names[i]!r} appears twice '
                         f'(entries {j} and {i}); class names must be '
                         'unique')
    return names


def dedup_names(
        names: Sequence[str]) -> Tuple[List[str], Optional[torch.Tensor]]:
    """Distinct names (by prompt text) and each class's index into them.

    Args:
        names (Sequence[str]): Class names in label order.

    Returns:
        tuple[list[str], Tensor | None]: The first occurrence of each
        distinct name, and a (C,) index tensor, or None when no name
        repeats.
    """
    first: Dict[str, int] = {}
    distinct: List[str] = []
    index = []
    for name in names:
        key = clean_classname(name)
        if key not in first:
            first[key] = len(distinct)
            distinct.append(name)
        index.append(first[key])
    if len(distinct) == len(names):
        return list(names), None
    return distinct, torch.tensor(index, dtype=torch.long)


PHASES = ('train', 'test')
#: Where a phase's vocabulary came from, strongest first.
EXPLICIT, DATASET = 'explicit', 'dataset'


class PhaseVocabularies:
    """The train and test vocabularies of one model, and the rule above.

    Args:
        owner (str): The model's name, for messages.
        reader (callable): Turns a vocabulary setting into names. Defaults
            to :func:`read_vocabulary`.
        config_keys (dict, optional): Phase -> the config key that sets it,
            for the error message. Defaults to ``train_vocabulary`` /
            ``test_vocabulary``.
    """

    def __init__(self, owner: str,
                 reader: Callable[[VocabularyLike], List[str]] =
                 read_vocabulary,
                 config_keys: Optional[Dict[str, str]] = None) -> None:
        self.owner = owner
        self.reader = reader
        self.config_keys = dict(train='train_vocabulary',
                                test='test_vocabulary')
        self.config_keys.update(config_keys or {})
        self._names: Dict[str, Optional[List[str]]] = dict.fromkeys(PHASES)
        self._source: Dict[str, Optional[str]] = dict.fromkeys(PHASES)
        self._token: Dict[str, int] = dict.fromkeys(PHASES, 0)
        self._count = 0
        self._logged = set()

    @staticmethod
    def check_mode(mode: str) -> None:
        if mode not in PHASES:
            raise ValueError(f"mode={mode!r}: expected 'train' or 'test'")

    def set(self, vocabulary: VocabularyLike, mode: str = 'test',
            source: str = EXPLICIT) -> Optional[List[str]]:
        """Set (``EXPLICIT``) or offer (``DATASET``) a phase's vocabulary.

        Returns:
            list[str] | None: The names now used, or None when an offer of
            the dataset's classes was refused (an explicit one is kept).
        """
        if not self.accepts(mode, source):
            return None
        names = self.reader(vocabulary)
        self.store(names, mode, source)
        return names

    def accepts(self, mode: str, source: str = EXPLICIT) -> bool:
        """Whether a ``source`` setting would be taken for ``mode`` (an
        offer of the dataset's classes is refused, once logged, when an
        explicit vocabulary is set)."""
        self.check_mode(mode)
        if source not in (EXPLICIT, DATASET):
            raise ValueError(f'source={source!r}: expected {EXPLICIT!r} or '
                             f'{DATASET!r}')
        if source == DATASET and self._source[mode] == EXPLICIT:
            self._log_once(
                ('kept', mode),
                f'{self.owner}: keeps its explicit {mode} vocabulary '
                f'({len(self._names[mode])} classes); the {mode} dataset\'s '
                'classes are not used')
            return False
        return True

    def store(self, names: List[str], mode: str,
              source: str = EXPLICIT) -> None:
        """Record names already read (and checked) by the model."""
        self._count += 1
        self._names[mode], self._source[mode] = list(names), source
        self._token[mode] = self._count

    def get(self, mode: str) -> Optional[List[str]]:
        """The names set or offered for ``mode`` (no fallback), or None."""
        self.check_mode(mode)
        return self._names[mode]

    def source(self, mode: str) -> Optional[str]:
        """``EXPLICIT``, ``DATASET`` or None (nothing set)."""
        self.check_mode(mode)
        return self._source[mode]

    def resolve(self, mode: str,
                builtin: Optional[Dict[str, Optional[List[str]]]] = None,
                required: bool = True) -> Tuple[Optional[List[str]], tuple]:
        """The vocabulary ``mode`` uses (steps 1-5 of the module's rule).

        Args:
            mode (str): ``'train'`` or ``'test'``.
            builtin (dict, optional): Phase -> the model's built-in names
                (step 3). Defaults to None.
            required (bool): Raise when nothing applies; False returns
                ``(None, key)``. Defaults to True.

        Returns:
            tuple[list[str] | None, tuple]: The names and a cheap key that
            changes whenever the choice does.
        """
        self.check_mode(mode)
        builtin = builtin or {}
        phases = (mode, 'train') if mode == 'test' else (mode,)
        candidates = [(p, self._names[p], (p, self._token[p]))
                      for p in phases]
        candidates += [(p, builtin.get(p), (p, 'builtin')) for p in phases]
        for phase, names, key in candidates:
            if not names:
                continue
            if phase != mode:
                self._log_once(
                    ('other', mode),
                    f'{self.owner}: no test vocabulary; testing on the '
                    f'training vocabulary ({len(names)} classes)')
            return names, key
        if required:
            raise RuntimeError(
                f'{self.owner} has no {mode} vocabulary: add '
                "custom_hooks=[dict(type='VocabularyHook')] or set "
                f'{self.config_keys[mode]} in the model config')
        return None, (mode, None)

    def _log_once(self, what: tuple, message: str) -> None:
        if what not in self._logged:
            self._logged.add(what)
            print_log(message, logger='current')


def offer_dataset_vocabulary(model, classes: Sequence[str],
                             mode: str) -> None:
    """Give a model its phase dataset's classes (what ``VocabularyHook``
    does): ``set_vocabulary(classes, mode, source='dataset')`` for models
    that follow the rule above, a plain ``set_vocabulary(classes, mode)``
    for others."""
    import inspect
    setter = model.set_vocabulary
    try:
        takes_source = 'source' in inspect.signature(setter).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        takes_source = False
    if takes_source:
        setter(list(classes), mode, source=DATASET)
    else:
        setter(list(classes), mode)


def read_vocabulary_file(root: str) -> Dict[str, list]:
    """``classes.json`` of a scene export (``classes``, ``seen``,
    ``unseen``), with a clear error when absent or malformed."""
    path = osp.join(root, 'classes.json')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found; export the scenes first: python -m '
            f'pomp_mm.miniworld.export {root} --target TARGET')
    with open(path) as f:
        meta = json.load(f)
    for key in ('classes', 'seen', 'unseen'):
        if not isinstance(meta.get(key), list):
            raise ValueError(f'{path}: key {key!r} missing or not a list')
    return meta
