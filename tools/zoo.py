"""The transfer-method zoo on the mini-world: every method, every protocol.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.benchmarks.zoo`;
``python tools/zoo.py --help`` lists the options.
"""
from pomp_mm.benchmarks.zoo import main

if __name__ == '__main__':
    main()
