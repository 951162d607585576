"""Mini-world classification datasets, rendered on the fly (no files).

Images are drawn when a sample is read, from a seed that depends on the
dataset's ``sample_seed`` and the sample index, so a dataset is the same on
every run and every rank and costs no disk. Samples carry ``img`` (BGR, as
``LoadImageFromFile`` would give), so pipelines start after image loading.
"""
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .splits import class_pools, target_classes, TARGETS
from .world import class_name, render_scene, sample_scene

SUBSETS = ('seen', 'unseen', 'all')


def resolve_classes(split: str, subset: str = 'all', seed: int = 0
                    ) -> List[int]:
    """Class ids of ``'source'`` or a target's seen/unseen/all classes."""
    if subset not in SUBSETS:
        raise ValueError(f'subset={subset!r}: expected one of {SUBSETS}')
    if split == 'source':
        return class_pools(seed)[0]
    seen, unseen = target_classes(split, seed)
    return {'seen': seen, 'unseen': unseen, 'all': seen + unseen}[subset]


@DATASETS.register_module()
class MiniWorldClassification(BaseDataset):
    """One object per image; classes from the source pool or a target.

    Args:
        split (str): ``'source'`` (the pre-training vocabulary, 16,589
            classes) or a target name (``'mixed200'``, ``'stars_hearts'``,
            ``'mixed200_dark'``).
        subset (str): ``'seen'``, ``'unseen'`` or ``'all'`` classes of a
            target. Ignored for the source. Defaults to ``'all'``.
        images_per_class (int): Samples per class (the "shots" of a training
            set). Defaults to 1.
        sample_seed (int): Seed of the images; use different seeds for
            train and test sets. Defaults to 0.
        world_seed (int): Seed of the source/target split. Defaults to 0.
        domain (str, optional): Override the target's domain
            (``'clean'``/``'shifted'``). Defaults to None.
        image_size (int): Image side. Defaults to 64.
        max_classes (int, optional): Keep only the first classes (smoke
            tests). Defaults to None.
        pipeline (list): Transforms after image loading.
    """

    def __init__(self,
                 split: str = 'source',
                 subset: str = 'all',
                 images_per_class: int = 1,
                 sample_seed: int = 0,
                 world_seed: int = 0,
                 domain: Optional[str] = None,
                 image_size: int = 64,
                 max_classes: Optional[int] = None,
                 pipeline: list = (),
                 **kwargs) -> None:
        if split != 'source' and split not in TARGETS:
            raise ValueError(f'split={split!r}: expected "source" or one of '
                             f'{sorted(TARGETS)}')
        if images_per_class < 1:
            raise ValueError(f'images_per_class={images_per_class}: '
                             'expected >= 1')
        self.class_ids = resolve_classes(split, subset, world_seed)
        if max_classes is not None:
            self.class_ids = self.class_ids[:max_classes]
        self.split, self.subset = split, subset
        self.images_per_class = images_per_class
        self.sample_seed = sample_seed
        self.domain = domain or (TARGETS[split].domain if split in TARGETS
                                 else 'clean')
        self.image_size = image_size
        names = tuple(class_name(c) for c in self.class_ids)
        super().__init__(ann_file='', metainfo=dict(classes=names),
                         pipeline=list(pipeline), lazy_init=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(gt_label=label, class_id=cid, sample_idx=i)
                for i, (label, cid) in enumerate(
                    (label, cid) for label, cid in enumerate(self.class_ids)
                    for _ in range(self.images_per_class))]

    def render(self, idx: int) -> np.ndarray:
        """The RGB image of sample ``idx``."""
        info = self.get_data_info(idx)
        rng = np.random.default_rng([self.sample_seed, info['sample_idx']])
        scene = sample_scene(rng, [info['class_id']], self.domain,
                             self.image_size)
        return render_scene(scene)[0]

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        img = np.ascontiguousarray(self.render(idx)[..., ::-1])  # BGR
        info.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return self.pipeline(info)
