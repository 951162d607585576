#!/usr/bin/env python
"""Side-by-side benchmark of pomp_mm's text paths (one run, one table).

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.benchmarks.speed`;
``python tools/benchmark.py --help`` lists the options.
"""
from pomp_mm.benchmarks.speed import main

if __name__ == '__main__':
    main()
