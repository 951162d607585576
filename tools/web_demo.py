# Copyright (c) pomp_mm contributors. All rights reserved.
"""Try a POMP prompt in a browser (``web_demo.py [--port 7860]
[--host 127.0.0.1] [--work-dir work_dirs/web_demo] [--max-upload-mb 10]``).

A thin command line: usage, options and what the page does are in the
docstring of :mod:`pomp_mm.engine.web_demo` (and docs/web_demo.md);
``python tools/web_demo.py --help`` lists the options. With no model given
it runs on the mini-world default (tiny CLIP and POMP prompt,
:mod:`pomp_mm.benchmarks.miniworld.defaults`) and offers a few mini-world
scenes (:func:`pomp_mm.benchmarks.miniworld.export.export_scenes`).
"""
from pomp_mm.benchmarks.miniworld.defaults import default_files
from pomp_mm.benchmarks.miniworld.export import export_scenes
from pomp_mm.engine.web_demo import main

if __name__ == '__main__':
    main(defaults=default_files, scenes=export_scenes)
