# Copyright (c) pomp_mm contributors. All rights reserved.
"""Dump CLIP text features of a class vocabulary to a ``.npy`` file.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.engine.dump_text_features`;
``python tools/dump_text_features.py --help`` lists the options.
"""
from pomp_mm.engine.dump_text_features import main

if __name__ == '__main__':
    main()
