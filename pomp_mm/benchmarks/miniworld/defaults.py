# Copyright (c) pomp_mm contributors. All rights reserved.
"""The embedded default weights of ``tools/infer.py``: the mini-world's tiny
CLIP and its POMP prompt (and, for detection, its trained detector).

They live where ``tools/miniworld.py`` writes them, relative to the current
folder (:data:`DEFAULT_CLIP`, :data:`DEFAULT_PROMPT`,
:data:`DEFAULT_DETECTOR`), so a benchmark run and the inference CLI share
them. A missing CLIP or prompt is built, with a progress message, by the
benchmark's own stages (the same configs and keys, so a later
``tools/miniworld.py`` reuses them); this takes many minutes on a CPU. The
detector (~25 min) is not built here: a missing one is one clear error line.

This module is benchmark-level (it runs the mini-world driver):
``pomp_mm.apis`` never imports it; ``tools/infer.py`` asks it for the files.
"""
import os.path as osp
from typing import Callable, Dict, Optional

#: The tiny CLIP (``tools/miniworld.py --clip``'s default).
DEFAULT_CLIP = osp.join('data', 'miniworld', 'tiny_clip.pt')
#: Its open_clip config.
DEFAULT_CLIP_MODEL = 'pomp-mini-vit'
#: The POMP prompt pre-trained on the 16,589 source classes (seed 0).
DEFAULT_PROMPT = osp.join('work_dirs', 'miniworld', 'seed0', 'pomp',
                          'prompt_latest.pth')
#: The detector trained with that prompt (``tools/miniworld.py``, seed 0).
DEFAULT_DETECTOR = osp.join('work_dirs', 'miniworld', 'seed0', 'det_pomp',
                            'epoch_12.pth')
#: The repository's configs (the detector's architecture).
CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))), 'configs', 'miniworld')


def build_default_clip(path: str) -> str:
    """Train the tiny CLIP into ``path`` (``tools/miniworld.py``'s step 1)."""
    from pomp_mm.benchmarks.miniworld.tiny_clip import main as train_clip
    train_clip(['--out', path, '--model', DEFAULT_CLIP_MODEL])
    return path


def build_default_prompt(path: str, clip: str) -> str:
    """Pre-train the POMP prompt (``tools/miniworld.py``'s step 2, seed 0)
    into ``path``'s folder; returns its ``prompt_latest.pth``."""
    from pomp_mm.benchmarks.miniworld import driver
    return driver._train('pomp_source.py', osp.dirname(osp.abspath(path)), {
        'model.prompt_learner.clip.checkpoint': osp.abspath(clip),
        'model.prompt_learner.clip.model_name': DEFAULT_CLIP_MODEL,
        'randomness.seed': 0}, osp.abspath(clip))


def default_files(task: str, log: Callable[[str], None] = print,
                  clip: Optional[str] = None, prompt: Optional[str] = None
                  ) -> Dict[str, object]:
    """The default model of ``task`` as :func:`pomp_mm.apis.PompInferencer`
    keyword arguments, building the CLIP and prompt when absent.

    Args:
        task (str): ``'cls'``, ``'seg'`` or ``'det'``.
        log (callable): Where the progress messages go. Defaults to print.
        clip (str, optional): A CLIP file to use instead of the default.
        prompt (str, optional): A prompt file to use instead of the
            default.

    Returns:
        dict: ``model_name``, ``clip_checkpoint``, ``prompt``, and for
        ``seg`` ``dense_mode``/``crop_size`` (the tiny CLIP's), for ``det``
        ``model`` (the config) and ``weights``.

    Raises:
        FileNotFoundError: ``det`` without a trained default detector.
    """
    if task == 'det' and not osp.isfile(DEFAULT_DETECTOR):
        raise FileNotFoundError(
            f'det: no detector weights given and no default detector at '
            f'{DEFAULT_DETECTOR}; pass --weights DET.pth or train it with '
            'python tools/miniworld.py (detection stage, ~25 min on CPU)')
    if clip is None:
        clip = DEFAULT_CLIP
        if not osp.isfile(clip):
            log(f'[infer] default tiny CLIP {clip} not found: training it '
                '(tools/miniworld.py step 1, several minutes on CPU)...')
            build_default_clip(clip)
    if prompt is None:
        prompt = DEFAULT_PROMPT
        if not osp.isfile(prompt):
            log(f'[infer] default POMP prompt {prompt} not found: '
                'pre-training it (tools/miniworld.py step 2, many minutes '
                'on CPU)...')
            prompt = build_default_prompt(prompt, clip)
    log(f'[infer] using the mini-world default: CLIP {clip}, prompt '
        f'{prompt}' + (f', detector {DEFAULT_DETECTOR}'
                       if task == 'det' else ''))
    files = dict(model_name=DEFAULT_CLIP_MODEL, clip_checkpoint=clip,
                 prompt=prompt)
    if task == 'seg':
        # the tiny CLIP: dense features from its class token, 64 px windows
        # (configs/miniworld/seg_maskclip.py)
        files.update(dense_mode='cls', crop_size=64)
    elif task == 'det':
        files.update(model=osp.join(CONFIG_DIR, 'det_ov.py'),
                     weights=DEFAULT_DETECTOR)
    return files
