"""pomp_mm's configs, inherited from a user's own project.

What breaks: MMEngine 0.10.7 resolves ``_base_ = 'pkg::path'`` only for the
OpenMMLab projects in its ``MODULE2PACKAGE`` table (``mmengine does not
support to load pomp_mm config``), and it finds a package's files with
``get_installed_path``, which names ``site-packages/pomp_mm`` for an
editable (PEP 660) install, a folder that does not exist; ``with
read_base(): from pomp_mm.configs... import *`` uses the same lookup, and a
pure-Python config cannot inherit an old-style one (``_base_``) anyway.
A scope added to ``MODULE2PACKAGE`` would also set ``_scope_='pomp_mm'``
on every dict of the inherited config, a registry scope that does not
exist (pomp_mm's modules live in mmpretrain's, mmseg's and mmdet's).

What works with the pinned MMEngine, unpatched: MMEngine evaluates a
config's ``_base_`` as a Python expression (``Config._get_base_files``),
so a call returning a path is a valid base::

    _base_ = [__import__('pomp_mm').config_path('miniworld/zeroshot.py')]

:func:`config_path` returns the file in the configs shipped with the
package (``pomp_mm/.mim/configs``, where MMEngine and ``mim`` look for an
OpenMMLab package's configs; in the checkout a link to ``configs/``). The
parent's own relative ``_base_`` files and its ``mmdet::`` ones resolve as
usual, no scope is set, and the config runs the same under plain
``Runner.from_cfg``, pomp_mm's tools and each codebase's own
``tools/train.py`` / ``tools/test.py``.

:func:`install_config_scope` (a prototype, not applied by ``import
pomp_mm``) adds ``_base_ = 'pomp_mm::miniworld/zeroshot.py'`` on top: it
must run before a stock tool parses its config, i.e. at interpreter start
(the venv's ``.pth`` hook), because stock tools read ``custom_imports``
only after parsing.
"""
import os.path as osp
from typing import Optional

#: ``_base_ = 'pomp_mm::...'`` (with :func:`install_config_scope`)
SCOPE = 'pomp_mm'


def configs_root() -> str:
    """The folder of the configs shipped with the installed package."""
    return osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim',
                    'configs')


def config_path(name: str) -> str:
    """The path of one of pomp_mm's configs, for a ``_base_`` elsewhere.

    Args:
        name (str): The config relative to pomp_mm's ``configs/`` folder,
            e.g. ``'miniworld/zeroshot.py'`` or ``'pomp/pretrain.py'``.

    Returns:
        str: The absolute path of that file.

    Raises:
        FileNotFoundError: If pomp_mm ships no such config (one line naming
            it and the folder looked in).
    """
    root = configs_root()
    if not isinstance(name, str) or not name.endswith('.py') \
            or osp.isabs(name) or '..' in name.replace('\\', '/').split('/'):
        raise FileNotFoundError(
            f'pomp_mm config {name!r}: expected a .py path relative to '
            f"pomp_mm's configs folder, e.g. 'miniworld/zeroshot.py'")
    path = osp.join(root, name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'pomp_mm config {name!r} does not exist (looked for {path!r}); '
            "expected a path relative to pomp_mm's configs folder, e.g. "
            "'miniworld/zeroshot.py'")
    return path


def install_config_scope() -> bool:
    """Let ``_base_ = 'pomp_mm::<name>'`` name :func:`config_path` (name).

    A prototype for the venv's ``.pth`` hook: patches
    ``mmengine.config.Config._get_cfg_path`` so the ``pomp_mm`` scope
    resolves to the shipped configs with no registry scope (the parent's
    dicts keep the scope their own bases give them). Other scopes and
    plain paths go to MMEngine's own resolver. Idempotent.

    Returns:
        bool: True if this call installed it, False if it was installed.
    """
    from mmengine.config import Config
    current = Config.__dict__['_get_cfg_path'].__func__
    if getattr(current, '_pomp_mm_scope', False):
        return False

    def _get_cfg_path(cfg_path: str, filename: str
                      ) -> 'tuple[str, Optional[str]]':
        scope, sep, name = cfg_path.partition('::')
        if sep and scope == SCOPE:
            return config_path(name), None
        return current(cfg_path, filename)

    _get_cfg_path._pomp_mm_scope = True
    Config._get_cfg_path = staticmethod(_get_cfg_path)
    return True
