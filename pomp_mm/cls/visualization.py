# Copyright (c) pomp_mm contributors. All rights reserved.
"""``PompClsVisualizationHook``: mmpretrain's ``VisualizationHook`` with
the pictures right.

mmpretrain's hook hands the batch's raw input to the visualizer as RGB, but
mmpretrain pipelines load BGR (the data preprocessor's ``to_rgb`` converts
later): a yellow object was drawn cyan. It also names each picture by the
image's base name, so ``a/img.png`` and ``b/img.png`` overwrote each other,
and 64 px images got unreadable labels. This hook converts BGR inputs to RGB
(whenever the model's data preprocessor converts channels), names pictures
by their path relative to the dataset's ``data_root``, and has the
visualizer resize the shorter side to at least ``min_side`` first. It is a
drop-in ``default_hooks.visualization`` type, so mmpretrain's own
``tools/test.py --show-dir`` uses it too.
"""
import math
import os.path as osp
from typing import Sequence

from mmengine.fileio import join_path
from mmpretrain.engine.hooks import VisualizationHook
from mmpretrain.registry import HOOKS

from pomp_mm.core.utils import unwrap_model


@HOOKS.register_module()
class PompClsVisualizationHook(VisualizationHook):
    """See the module docstring.

    Args:
        min_side (int): Shorter side the picture is drawn at, at least.
            Defaults to 384.
        **kwargs: As mmpretrain's ``VisualizationHook``.
    """

    def __init__(self, min_side: int = 384, **kwargs) -> None:
        super().__init__(**kwargs)
        self.min_side = min_side
        self._bgr = True
        self._root = None

    def _setup(self, runner, loader) -> None:
        pre = unwrap_model(runner.model).data_preprocessor
        self._bgr = bool(getattr(pre, '_channel_conversion',
                                 getattr(pre, 'to_rgb', False)))
        root = getattr(getattr(loader, 'dataset', None), 'data_root', None)
        self._root = osp.abspath(root) if root else None

    def before_val(self, runner) -> None:
        self._setup(runner, runner.val_dataloader)

    def before_test(self, runner) -> None:
        self._setup(runner, runner.test_dataloader)

    def sample_name(self, data_sample, sample_id: int) -> str:
        """The image's path relative to the data root (no extension), or
        its index."""
        path = data_sample.get('img_path') if 'img_path' in data_sample \
            else None
        if not path:
            return str(sample_id)
        path = osp.abspath(path)
        if self._root:
            rel = osp.relpath(path, self._root)
            if not rel.startswith('..'):
                return osp.splitext(rel)[0]
        return osp.splitext(osp.basename(path))[0]

    def _draw_samples(self, batch_idx: int, data_batch: dict,
                      data_samples: Sequence, step: int = 0) -> None:
        if self.enable is False:
            return
        batch_size = len(data_samples)
        images = data_batch['inputs']
        start_idx = batch_size * batch_idx
        end_idx = start_idx + batch_size
        first = math.ceil(start_idx / self.interval) * self.interval
        for sample_id in range(first, end_idx, self.interval):
            image = images[sample_id - start_idx]
            image = image.permute(1, 2, 0).cpu().numpy().astype('uint8')
            if self._bgr:  # the pipeline's BGR; the visualizer draws RGB
                image = image[..., ::-1].copy()
            data_sample = data_samples[sample_id - start_idx]
            name = self.sample_name(data_sample, sample_id)
            draw_args = dict(self.draw_args)
            short = min(image.shape[:2])
            if short < self.min_side:
                draw_args.setdefault('resize', self.min_side)
            if self.out_dir is not None:
                draw_args['out_file'] = join_path(self.out_dir,
                                                  f'{name}_{step}.png')
            self._visualizer.visualize_cls(image=image,
                                           data_sample=data_sample,
                                           step=step, name=name, **draw_args)
