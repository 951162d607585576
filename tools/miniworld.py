"""The mini-world benchmark: POMP's transfer, end to end, on 2 CPU cores.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.benchmarks.miniworld.driver`;
``python tools/miniworld.py --help`` lists the options.
"""
from pomp_mm.benchmarks.miniworld.driver import main

if __name__ == '__main__':
    main()
