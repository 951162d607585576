"""Moved to :mod:`pomp_mm.core.vocabulary`; kept for this release."""
from .vocabulary import (WNID_PATTERN, _check_names, _check_unique,  # noqa
                         _decode, _split_lines, _split_wnid_line,
                         clean_classname, find_name_problem,
                         is_wnid_names_file, load_classnames, load_wnid_names,
                         names_for_keys, read_lines, resolve_path)

_read_lines = read_lines  # its old private name
