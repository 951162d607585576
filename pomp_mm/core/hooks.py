"""Hooks shared by every task: prompt files and vocabularies."""
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from .checkpoint import save_prompt


@HOOKS.register_module()
class PromptCheckpointHook(Hook):
    """Write a prompt-only file beside each MMEngine checkpoint.

    Whenever the runner saves ``epoch_{n}.pth`` (or ``iter_{n}.pth``) this
    hook writes ``prompt_epoch_{n}.pth`` (``prompt_iter_{n}.pth``) in the
    official POMP format, ``{'state_dict': {'ctx': ...}, 'epoch': n}``, plus
    ``prompt_latest.pth``. These few-KB files are what the downstream task
    configs load. Files are written to a temp name, then renamed.

    Args:
        key (str): Suffix of the state-dict key holding the prompt.
            Defaults to ``'prompt_learner.ctx'``.
        out_dir (str, optional): Folder for the files; defaults to the
            runner's ``work_dir``.
    """

    priority = 'VERY_LOW'

    def __init__(self,
                 key: str = 'prompt_learner.ctx',
                 out_dir: Optional[str] = None) -> None:
        self.key = key
        self.out_dir = out_dir

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not is_main_process():
            return
        state = checkpoint.get('state_dict', {})
        keys = [k for k in state if k == self.key or
                k.endswith('.' + self.key)]
        if len(keys) != 1:
            print_log(f'PromptCheckpointHook: found {len(keys)} keys ending '
                      f'with {self.key!r}; no prompt file written',
                      logger='current', level=30)
            return
        meta = checkpoint.get('meta', {})
        epoch, it = int(meta.get('epoch', 0)), int(meta.get('iter', 0))
        by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        name = f'prompt_epoch_{epoch}.pth' if by_epoch else \
            f'prompt_iter_{it}.pth'
        out_dir = self.out_dir or runner.work_dir
        ctx = state[keys[0]]
        info = {'iter': it, 'key': keys[0],
                'n_ctx': int(ctx.shape[-2]), 'width': int(ctx.shape[-1])}
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        clip = getattr(getattr(model, 'prompt_learner', None), 'clip', None)
        if clip is not None:
            info['clip_model'] = clip.model_name
        path = osp.join(out_dir, name)
        save_prompt(path, ctx, epoch=epoch, meta=info)
        save_prompt(osp.join(out_dir, 'prompt_latest.pth'), ctx,
                    epoch=epoch, meta=info)
        runner.logger.info(f'prompt saved to {path}')


@HOOKS.register_module()
class VocabularyHook(Hook):
    """Give the model the class names of the dataset it runs on.

    Before training it calls ``model.set_vocabulary(classes, 'train')`` with
    the training set's ``metainfo['classes']``; before validation and test,
    ``model.set_vocabulary(classes, 'test')`` with that set's. A model with a
    vocabulary fixed in its config can skip this hook.
    """

    priority = 'HIGH'

    @staticmethod
    def _set(runner, loader, mode: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        dataset = getattr(loader, 'dataset', None)
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if not classes:
            raise ValueError(
                f'VocabularyHook: the {mode} dataset '
                f'{type(dataset).__name__} has no metainfo["classes"]; set '
                'the class names in the dataset config (e.g. '
                'classnames_file=...) or the vocabulary in the model config')
        model.set_vocabulary(list(classes), mode)

    def before_train(self, runner) -> None:
        self._set(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._set(runner, runner.val_dataloader, 'test')

    def before_test(self, runner) -> None:
        self._set(runner, runner.test_dataloader, 'test')
