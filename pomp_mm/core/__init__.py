"""Task-free POMP core: frozen CLIP, prompt learner, objective, prompt I/O.

Importing this package registers ``FrozenCLIP``, ``PompPromptLearner`` and
``PompLoss`` in MMEngine's root ``MODELS`` registry and the hooks in its root
``HOOKS`` registry, so every OpenMMLab codebase's scope can build them.

Importing it also makes MMEngine's own checkpoint loader (only) read
checkpoints weights-only with an allow-list, under torch >= 2.6, and take
prompt files (see :mod:`pomp_mm.core.compat`), so ``load_from`` /
``resume`` work, and run no code from a file, however the runner is
started.
"""
from .checkpoint import (CheckpointMismatchError, UnsafeCheckpointError,
                         atomic_torch_save, load_prompt_ctx, safe_torch_load,
                         save_prompt)
from .checkpoint_hook import SafeCheckpointHook
from .clip import FrozenCLIP, read_clip_state_dict
from .compat import patch_mmengine_checkpoint_loading
from .hooks import (NonFiniteCheckHook, NonFiniteError, PromptCheckpointHook,
                    VocabularyHook)
from .pomp_loss import PompLoss, UndefinedLossError, pomp_logits
from .classnames import clean_classname, load_classnames
from .prompt import PompPromptLearner, read_vocabulary

__all__ = [
    'FrozenCLIP', 'read_clip_state_dict', 'PompPromptLearner',
    'clean_classname', 'load_classnames', 'read_vocabulary', 'PompLoss',
    'pomp_logits',
    'save_prompt', 'load_prompt_ctx', 'atomic_torch_save', 'safe_torch_load',
    'UnsafeCheckpointError', 'CheckpointMismatchError',
    'PromptCheckpointHook', 'VocabularyHook', 'SafeCheckpointHook',
    'NonFiniteCheckHook', 'NonFiniteError', 'UndefinedLossError',
    'patch_mmengine_checkpoint_loading'
]

patch_mmengine_checkpoint_loading()
