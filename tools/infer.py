# Copyright (c) pomp_mm contributors. All rights reserved.
"""Classify, segment or detect free-text classes in images with a POMP
prompt (``infer.py {cls,seg,det} IMAGE_OR_DIR... --texts ...``).

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.engine.infer`; ``python tools/infer.py --help`` lists the
options. With no model given it runs on the mini-world default (tiny CLIP
and POMP prompt, :mod:`pomp_mm.benchmarks.miniworld.defaults`).
"""
from pomp_mm.benchmarks.miniworld.defaults import default_files
from pomp_mm.engine.infer import main

if __name__ == '__main__':
    main(defaults=default_files)
