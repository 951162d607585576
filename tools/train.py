"""Train with any pomp_mm config (POMP pre-training, CoOp, task models).

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.engine.train`;
``python tools/train.py --help`` lists the options.
"""
from pomp_mm.engine.train import main

if __name__ == '__main__':
    main()
