# Copyright (c) pomp_mm contributors. All rights reserved.
"""``PompShowHook``: ``tools/test.py --show-dir`` pictures for cls, seg and
det, drawn as :func:`pomp_mm.apis.PompInferencer` draws them.

One hook for the three codebases (registered in MMEngine's root ``HOOKS``,
so every scope builds it). It draws each test sample's prediction over the
test vocabulary (the test set's classes, as ``VocabularyHook`` gives them to
the model) with :mod:`pomp_mm.apis.visualization`: a palette colour for any
number of classes, BGR images shown in their own colours, small images
upscaled before the labels, and ``SHOW_DIR/<image path relative to the
data root>.png`` names, so two class folders' ``img.png`` stay two pictures.
"""
import os
import os.path as osp
import cv2
import mmcv
import numpy as np
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from pomp_mm.core.checkpoint import atomic_write
from .visualization import (draw_classification, draw_detection,
                            draw_segmentation, out_name)


@HOOKS.register_module()
class PompShowHook(Hook):
    """Write a picture of every test prediction to ``out_dir``.

    Args:
        out_dir (str): Folder of the pictures.
        score_thr (float): Detection boxes scoring at least this are drawn.
            Defaults to 0.3.
        topk (int): Classification classes shown. Defaults to 5.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, score_thr: float = 0.3,
                 topk: int = 5) -> None:
        self.out_dir = out_dir
        self.score_thr = score_thr
        self.topk = topk
        self._count = 0

    def before_test(self, runner) -> None:
        dataset = runner.test_dataloader.dataset
        self.classes = list(dataset.metainfo.get('classes') or [])
        self.root = getattr(dataset, 'data_root', None) or None
        self._count = 0

    def _image(self, sample, inputs, i) -> np.ndarray:
        path = sample.metainfo.get('img_path')
        if path and osp.isfile(path):
            return mmcv.imread(path, channel_order='bgr')
        # in-memory samples (the mini-world's classification images): the
        # batch holds the pipeline's BGR image
        img = inputs[i]
        return np.ascontiguousarray(
            img.permute(1, 2, 0).cpu().numpy().clip(0, 255).astype(np.uint8))

    def _draw(self, image, sample) -> np.ndarray:
        names = self.classes
        if 'pred_instances' in sample:
            pred = sample.pred_instances
            keep = pred.scores >= self.score_thr
            return draw_detection(image, pred.bboxes[keep].cpu().numpy(),
                                  pred.labels[keep].tolist(),
                                  pred.scores[keep].tolist(), names)
        if 'pred_sem_seg' in sample:
            return draw_segmentation(
                image, sample.pred_sem_seg.data[0].cpu().numpy(), names)
        score = sample.pred_score.float()
        k = min(self.topk, len(score))
        top, idx = score.topk(k)
        return draw_classification(
            image, [names[i] if i < len(names) else str(i)
                    for i in idx.tolist()], top.tolist())

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        inputs = (data_batch or {}).get('inputs')
        for i, sample in enumerate(outputs or []):
            path = sample.metainfo.get('img_path')
            name = out_name(path and osp.abspath(path), self.root and
                            osp.abspath(self.root), self._count)
            self._count += 1
            picture = self._draw(self._image(sample, inputs, i), sample)
            out = osp.join(self.out_dir, name + '.png')
            ok, buf = cv2.imencode('.png', picture)
            if not ok:
                raise RuntimeError(f'could not encode {out}')
            os.makedirs(osp.dirname(out), exist_ok=True)
            atomic_write(out, lambda f, b=buf: f.write(b.tobytes()))

    def after_test(self, runner) -> None:
        runner.logger.info(f'PompShowHook: {self._count} picture(s) -> '
                           f'{self.out_dir}')


def show_hook_cfg(out_dir: str, **kwargs) -> dict:
    """The ``custom_hooks`` entry of :class:`PompShowHook`."""
    return dict(type='PompShowHook', out_dir=osp.abspath(out_dir), **kwargs)


__all__ = ['PompShowHook', 'show_hook_cfg']
