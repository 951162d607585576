"""Recall of a two-stage detector's proposals, measured in its own test.

A two-stage detector can only find an object its proposal stage (RPN or
CenterNet2's CenterNet head) puts a box on, whatever its classifier does.
When box AP drops, this tells the proposal stage from the classifier:
:func:`test_with_proposal_recall` runs the config's stock test
(``runner.test()``, the checkpoint loaded through ``load_from`` as
``tools/test.py`` does) and records, per test image, the proposals handed
to the RoI head and the image's ground-truth boxes, both in the resized
input frame. :func:`proposal_recall` is then the share of ground-truth
boxes that one of an image's first ``k`` proposals (in the head's order:
by score after NMS) overlaps with IoU >= ``iou``, counted over all boxes of
the test set, class-agnostic. A box counts as found when any proposal
covers it, since the RoI head can use one proposal for several boxes;
mmdet's ``eval_recalls`` (its proposal AR) matches them one to one
instead, and so can give less.

Command line::

    python -m pomp_mm.det.proposal_recall CONFIG CHECKPOINT \\
        [--ks 10 50 100] [--iou 0.5] [--work-dir DIR]

It prints the test's metrics (MMEngine's log) and one line per ``k``.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor

PROG = 'python -m pomp_mm.det.proposal_recall'


def proposal_recall(pairs: Sequence[Tuple[Tensor, Tensor]],
                    ks: Sequence[int] = (10, 50, 100),
                    iou: float = 0.5) -> Dict[int, float]:
    """Recall at ``k`` proposals per image, for each ``k`` of ``ks``.

    Args:
        pairs: Per image, ``(proposals, gt_boxes)``: ``(N, 4)`` and
            ``(M, 4)`` xyxy boxes in one frame, proposals best first.
        ks: Numbers of proposals per image.
        iou: The IoU at which a proposal covers a box.

    Returns:
        ``{k: recall}``, recall in [0, 1].
    """
    from mmdet.structures.bbox import bbox_overlaps
    total = sum(len(g) for _, g in pairs)
    if total == 0:
        raise ValueError('proposal recall: the test set has no '
                         'ground-truth boxes (does the test pipeline load '
                         'annotations?)')
    hits = dict.fromkeys(ks, 0)
    for props, gts in pairs:
        if not (len(gts) and len(props)):
            continue
        # one overlap matrix per image, for the largest k; each k a prefix
        overlaps = bbox_overlaps(gts.float(), props[:max(ks)].float())
        for k in ks:
            hits[k] += int((overlaps[:, :k].amax(1) >= iou).sum())
    return {k: hit / total for k, hit in hits.items()}


def test_with_proposal_recall(cfg, checkpoint: str,
                              ks: Sequence[int] = (10, 50, 100),
                              iou: float = 0.5
                              ) -> Tuple[dict, Dict[int, float]]:
    """``runner.test()`` of ``cfg`` with ``checkpoint``, and the recall of
    the proposals the RoI head saw in it.

    Returns:
        ``(metrics, {k: recall})``.
    """
    from mmdet.structures.bbox import get_box_tensor

    from pomp_mm.core.checkpoint import checkpoint_file_problem
    from pomp_mm.core.utils import build_runner, unwrap_model
    problem = checkpoint_file_problem(checkpoint)
    if problem:
        raise ValueError(f'proposal recall: {problem}')
    cfg = cfg.copy()
    cfg.load_from = checkpoint
    runner = build_runner(cfg)
    model = unwrap_model(runner.model)
    if not hasattr(model, 'roi_head') or not hasattr(model, 'rpn_head'):
        raise ValueError(f'proposal recall: {type(model).__name__} is not a '
                         'two-stage detector (no rpn_head / roi_head)')
    head = model.roi_head
    pairs: List[Tuple[Tensor, Tensor]] = []
    stock = head.predict

    def recording(x, rpn_results_list, batch_data_samples, rescale=False):
        for props, sample in zip(rpn_results_list, batch_data_samples):
            gt = sample.get('gt_instances')
            if gt is None or 'bboxes' not in gt:
                raise ValueError(
                    f"proposal recall: test image {sample.get('img_path')!r}"
                    ' has no ground-truth boxes; the test pipeline needs '
                    "LoadAnnotations(with_bbox=True) before 'PackDetInputs'")
            pairs.append((get_box_tensor(props.bboxes).detach().cpu(),
                          get_box_tensor(gt.bboxes).cpu()))
        return stock(x, rpn_results_list, batch_data_samples,
                     rescale=rescale)

    head.predict = recording
    try:
        with torch.no_grad():
            metrics = runner.test()
    finally:
        del head.predict  # the instance attribute; the class method again
    return metrics, proposal_recall(pairs, ks, iou)


def main(argv=None) -> None:
    from mmengine.config import Config
    p = argparse.ArgumentParser(
        description='Test a two-stage detector and print the recall of its '
        'proposals (class-agnostic, at IoU --iou).')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--ks', type=int, nargs='+', default=[10, 50, 100])
    p.add_argument('--iou', type=float, default=0.5)
    p.add_argument('--work-dir', default=None,
                   help='the test log folder (default: the config\'s '
                   'work_dir, else work_dirs/proposal_recall)')
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        sys.exit(f'{PROG}: error: config {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or \
        'work_dirs/proposal_recall'
    try:
        _, recall = test_with_proposal_recall(cfg, args.checkpoint,
                                              args.ks, args.iou)
    except ValueError as e:  # test_with_proposal_recall's input checks
        sys.exit(f'{PROG}: error: {e}')
    for k, r in recall.items():
        print(f'proposal recall@{k} (IoU {args.iou:g}): {100 * r:.1f}%',
              flush=True)


if __name__ == '__main__':
    main()
