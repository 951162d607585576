"""Test any pomp_mm config with a prompt file or a full checkpoint.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.engine.test`;
``python tools/test.py --help`` lists the options.
"""
from pomp_mm.engine.test import main

if __name__ == '__main__':
    main()
