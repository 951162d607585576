"""Task-free POMP core: frozen CLIP, prompt learner, objective, prompt I/O.

Importing this package registers ``FrozenCLIP``, ``PompPromptLearner`` and
``PompLoss`` in MMEngine's root ``MODELS`` registry and the hooks in its root
``HOOKS`` registry, so every OpenMMLab codebase's scope can build them.

Importing it also lets MMEngine's own checkpoint loader (only) read MMEngine
checkpoints under torch >= 2.6 (see :mod:`pomp_mm.core.compat`), so
``load_from`` / ``resume`` work however the runner is started.
"""
from .checkpoint import atomic_torch_save, load_prompt_ctx, save_prompt
from .clip import FrozenCLIP, read_clip_state_dict
from .compat import patch_mmengine_checkpoint_loading
from .hooks import PromptCheckpointHook, VocabularyHook
from .pomp_loss import PompLoss, pomp_logits
from .classnames import clean_classname, load_classnames
from .prompt import PompPromptLearner, read_vocabulary

__all__ = [
    'FrozenCLIP', 'read_clip_state_dict', 'PompPromptLearner',
    'clean_classname', 'load_classnames', 'read_vocabulary', 'PompLoss', 'pomp_logits',
    'save_prompt', 'load_prompt_ctx', 'atomic_torch_save',
    'PromptCheckpointHook', 'VocabularyHook',
    'patch_mmengine_checkpoint_loading'
]

patch_mmengine_checkpoint_loading()
