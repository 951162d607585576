# Copyright (c) pomp_mm contributors. All rights reserved.
"""Open-vocabulary detection of one image with a free-text vocabulary.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.engine.det_demo`;
``python tools/det_demo.py --help`` lists the options.
"""
from pomp_mm.engine.det_demo import main

if __name__ == '__main__':
    main()
