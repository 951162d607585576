"""Task-free POMP core: frozen CLIP, prompt learner, objective, prompt I/O.

Importing this package registers ``FrozenCLIP``, ``PompPromptLearner`` and
``PompLoss`` in MMEngine's root ``MODELS`` registry and the hooks in its root
``HOOKS`` registry, so every OpenMMLab codebase's scope can build them.

``import pomp_mm`` (hence this package) also makes MMEngine's own checkpoint
loader (only) read checkpoints weights-only with an allow-list and take
prompt files (:mod:`pomp_mm.compat.mmengine`), so ``load_from`` /
``resume`` work and run no code from a file, however the runner is started.
"""
from .checkpoint import (CheckpointMismatchError, UnsafeCheckpointError,
                         atomic_torch_save, load_prompt_ctx, safe_torch_load,
                         save_prompt)
from .checkpoint_hook import SafeCheckpointHook
from .clip import FrozenCLIP, read_clip_state_dict
from pomp_mm.compat.mmengine import patch_mmengine_checkpoint_loading
from .hooks import (NonFiniteCheckHook, NonFiniteError, PromptCheckpointHook,
                    VocabularyHook)
from .pomp_loss import PompLoss, UndefinedLossError, pomp_logits
from .prompt import PompPromptLearner, load_prompt
from .vocabulary import (PhaseVocabularies, clean_classname, load_classnames,
                         read_vocabulary)

__all__ = [
    'FrozenCLIP', 'read_clip_state_dict', 'PompPromptLearner',
    'clean_classname', 'load_classnames', 'read_vocabulary', 'PompLoss',
    'load_prompt', 'PhaseVocabularies',
    'pomp_logits',
    'save_prompt', 'load_prompt_ctx', 'atomic_torch_save', 'safe_torch_load',
    'UnsafeCheckpointError', 'CheckpointMismatchError',
    'PromptCheckpointHook', 'VocabularyHook', 'SafeCheckpointHook',
    'NonFiniteCheckHook', 'NonFiniteError', 'UndefinedLossError',
    'patch_mmengine_checkpoint_loading'
]
