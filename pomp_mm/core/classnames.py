# Copyright (c) pomp_mm contributors. All rights reserved.
"""Readers for class-name files.

Two formats are understood:

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
"""
import codecs
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

WNID_PATTERN = re.compile(r'^n\d{8}$')


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


def _read_lines(path: str, what: str = 'classes file') -> List[str]:
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
    names = _read_lines(path)
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
    lines = _read_lines(path)
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
    lines = _read_lines(path)
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
