"""Benchmarks: experiments above the task adapters (the mini-world, the
transfer zoo), their cached runner and their reports.

Import rule: ``pomp_mm.core`` <- ``pomp_mm.cls/seg/det`` <- ``pomp_mm.benchmarks``
<- ``tools/``. No task package imports this one.
"""
