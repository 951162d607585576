"""Run the classification transfer configs and tabulate them as the paper.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.benchmarks.cls_transfer`;
``python tools/results_table.py --help`` lists the options.
"""
from pomp_mm.benchmarks.cls_transfer import main

if __name__ == '__main__':
    main()
