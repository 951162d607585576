"""Entry points of the command-line tools: the logic of ``tools/train.py``,
``tools/test.py``, ``tools/dump_text_features.py`` and ``tools/det_demo.py``
(the tools are thin CLIs over each module's ``main``), so a benchmark
driver or a test runs them in-process.

Import rule: ``pomp_mm.core`` <- ``pomp_mm.cls/seg/det`` <- ``pomp_mm.engine``
<- ``pomp_mm.benchmarks`` <- ``tools/``. Nothing is imported here: a
config's ``custom_imports`` registers a task's modules.
"""
