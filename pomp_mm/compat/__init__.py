"""Repairs of the pinned stack, one module each, applied once on import.

Each module says what breaks, in which pinned version, and what its patch
does; each patch is idempotent (a second call is a no-op) and scoped to
the one module it repairs (nothing global such as ``torch.load`` or numpy
itself is changed):

* :mod:`.torchvision` - torchvision 0.28 with the CPU torch 2.13 (its
  compiled ops cannot load). Applied at interpreter start by the venv's
  ``.pth`` hook, and again (a no-op then) on ``import pomp_mm``.
* :mod:`.mmengine` - MMEngine 0.10.7's checkpoint loader under torch >= 2.6
  (weights-only, with an allow-list; prompt files). Applied on
  ``import pomp_mm``.
* :mod:`.lvis` - lvis 0.5.3's evaluator on numpy 2 (``np.float``). Applied
  on ``import pomp_mm.det``, the one package that evaluates with lvis.

This package imports none of them itself: importing one never pulls in
another's library.
"""
