# Copyright (c) pomp_mm contributors. All rights reserved.
"""Inference with a POMP prompt: :func:`PompInferencer` (cls, seg, det) and
the pictures it draws (:mod:`pomp_mm.apis.visualization`).

This package sits at the engine level: it imports the core and the tasks,
never the benchmarks (the mini-world default files are found by
``tools/infer.py`` through :mod:`pomp_mm.benchmarks.miniworld.defaults`).
"""
from .hooks import PompShowHook, show_hook_cfg
from .inferencer import (NO_CLASS, NO_CLASS_NAME, TASKS, PompClsInferencer,
                         PompDetInferencer, PompInferencer, PompSegInferencer,
                         list_images, read_texts)
from .recipe import PompCLIP, create_model_and_transforms
from .visualization import palette

__all__ = ['PompInferencer', 'PompClsInferencer', 'PompSegInferencer',
           'PompDetInferencer', 'TASKS', 'NO_CLASS', 'NO_CLASS_NAME',
           'list_images', 'read_texts', 'palette', 'PompShowHook',
           'show_hook_cfg', 'create_model_and_transforms', 'PompCLIP']
