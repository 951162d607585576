"""Mini-world image-caption pairs for zero-shot retrieval.

:class:`MiniWorldCaptions` renders mini-world scenes on the fly and names
their objects with :func:`.world.caption` (several captions per image, like
COCO's five), in mmpretrain's retrieval layout (``COCORetrieval``,
``Flickr30kRetrieval``), for :class:`pomp_mm.cls.CLIPRetriever`, mmpretrain's
``RetrievalTestLoop`` and ``RetrievalRecall``. Importing this module
registers it in mmpretrain's ``DATASETS``.
"""
from collections.abc import Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .datasets import resolve_classes
from .splits import TARGETS
from .world import caption, render_scene, sample_scene

__all__ = ['MiniWorldCaptions']


@DATASETS.register_module()
class MiniWorldCaptions(BaseDataset):
    """Mini-world images with several generated captions each.

    Image ``i`` shows the class ``i // images_per_class`` of the split
    (plus ``objects_per_image - 1`` other classes of the split drawn at
    random); each caption names every object, in one of the caption
    templates the tiny CLIP was trained with.

    Args:
        split (str): ``'source'`` or a target name (``'mixed200'``, ...).
            Defaults to ``'mixed200'``.
        subset (str): ``'seen'``, ``'unseen'`` or ``'all'`` classes of a
            target. Defaults to ``'all'``.
        images_per_class (int): Images of each class. Defaults to 1.
        captions_per_image (int): Captions of each image. Defaults to 5.
        objects_per_image (int): Objects drawn in each image. Defaults to 1.
        sample_seed (int): Seed of the scenes and captions. Defaults to 0.
        world_seed (int): Seed of the source/target split. Defaults to 0.
        domain (str, optional): ``'clean'`` or ``'shifted'``; defaults to
            the split's domain.
        image_size (int): Image side. Defaults to 64.
        max_classes (int, optional): Keep only the first classes.
            Defaults to None.
        test_mode (bool): mmpretrain's evaluation layout (one item per
            image with all its captions); False gives one item per caption
            (the training layout). Defaults to True.
        pipeline (list): Transforms after image loading; end with
            ``PackInputs(algorithm_keys=['text', 'gt_text_id',
            'gt_image_id'])``.
    """

    def __init__(self,
                 split: str = 'mixed200',
                 subset: str = 'all',
                 images_per_class: int = 1,
                 captions_per_image: int = 5,
                 objects_per_image: int = 1,
                 sample_seed: int = 0,
                 world_seed: int = 0,
                 domain: str | None = None,
                 image_size: int = 64,
                 max_classes: int | None = None,
                 test_mode: bool = True,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        if split != 'source' and split not in TARGETS:
            raise ValueError(f'split={split!r}: expected "source" or one of '
                             f'{sorted(TARGETS)}')
        for key, value in (('images_per_class', images_per_class),
                           ('captions_per_image', captions_per_image),
                           ('objects_per_image', objects_per_image)):
            if int(value) < 1:
                raise ValueError(f'{key}={value}: expected >= 1')
        self.class_ids = resolve_classes(split, subset, world_seed)
        if max_classes is not None:
            self.class_ids = self.class_ids[:max_classes]
        self.images_per_class = int(images_per_class)
        self.captions_per_image = int(captions_per_image)
        self.objects_per_image = int(objects_per_image)
        self.sample_seed = sample_seed
        self.domain = domain or (TARGETS[split].domain if split in TARGETS
                                 else 'clean')
        self.image_size = image_size
        self.img_size = len(self.class_ids) * self.images_per_class
        self.text_size = self.img_size * self.captions_per_image
        super().__init__(ann_file='', test_mode=test_mode,
                         pipeline=list(pipeline), lazy_init=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        images, per_caption = [], []
        k = self.captions_per_image
        for i in range(self.img_size):
            rng = np.random.default_rng([self.sample_seed, i])
            classes = [self.class_ids[i // self.images_per_class]]
            if self.objects_per_image > 1:
                classes += rng.choice(self.class_ids,
                                      self.objects_per_image - 1).tolist()
            scene = sample_scene(rng, classes, self.domain, self.image_size,
                                 single=self.objects_per_image == 1)
            texts = [caption(scene, np.random.default_rng(
                [self.sample_seed, i, j])) for j in range(k)]
            ids = list(range(i * k, (i + 1) * k))
            images.append({'scene': scene, 'image_id': i, 'text': texts,
                               'gt_text_id': ids, 'gt_image_id': [i] * k})
            per_caption += [{'scene': scene, 'image_id': i, 'text': t, 'text_id': j,
                                 'is_matched': True}
                            for t, j in zip(texts, ids)]
        return images if self.test_mode else per_caption

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        img = np.ascontiguousarray(render_scene(info.pop('scene'))[0][..., ::-1])
        info.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return self.pipeline(info)
