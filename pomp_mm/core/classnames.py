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
label after it. Every error is a single line naming the file, the line
number and the offending value.
"""
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
        ValueError: If the file is empty or has a blank line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path}: file not found; expected a '
                                'text file with one class name per line')
    with open(path, encoding='utf-8') as f:
        raw = f.read().splitlines()
    # A single trailing newline is normal; trailing blank lines are not.
    lines = [line.strip() for line in raw]
    if not any(lines):
        raise ValueError(f'{what} {path}: file is empty; expected one class '
                         'name per line')
    for lineno, line in enumerate(lines, start=1):
        if not line:
            raise ValueError(f'{what} {path}: line {lineno} is empty; '
                             'expected one class name per line')
    return lines


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
        ValueError: If the file is empty, has a blank line or (unless
            ``allow_duplicates``) a duplicate name.
    """
    names = _read_lines(path)
    if not allow_duplicates:
        _check_unique(names, path, 'class name')
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
        ValueError: If the file is empty, has a blank line, a line without a
            name, or the same wnid twice.
    """
    lines = _read_lines(path)
    pairs = [_split_wnid_line(line) for line in lines]
    for lineno, (wnid, name) in enumerate(pairs, start=1):
        if not name:
            raise ValueError(f'classes file {path}: line {lineno} ({wnid!r}) '
                             'has no name; expected "<wnid> <name>"')
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
