# Copyright (c) pomp_mm contributors. All rights reserved.
"""ImageNet-21K (winter21, MIIL processed release) for POMP pre-training."""
import os.path as osp
from typing import Dict, List, Optional

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from pomp_mm.core.vocabulary import clean_classname, names_for_keys, resolve_path
from .folder import (FEWSHOT_CACHE_DIRNAME, ImageFileChecks, build_metainfo,
                     list_class_folders, reject_classes_kwarg,
                     scan_class_folders, select_fewshot, to_data_list)

SPLITS = ('train', 'val')
LAYOUT = ('<data_root>/imagenet21k_train/<wnid>/*.JPEG and '
          '<data_root>/imagenet21k_val/<wnid>/*.JPEG (MIIL winter21 layout)')


def _first_line(error: BaseException) -> str:
    """First line of an exception message.

    Args:
        error (BaseException): Any exception.

    Returns:
        str: ``'<Type>: <first line>'``.
    """
    lines = str(error).strip().splitlines()
    return f'{type(error).__name__}: {lines[0] if lines else ""}'


def load_tree_descriptions(tree_file: str) -> Dict[str, str]:
    """Read ``class_description`` (wnid -> name) from the MIIL tree file.

    The file is loaded with ``torch.load(..., weights_only=True)``.

    Args:
        tree_file (str): Path of ``imagenet21k_miil_tree.pth``.

    Returns:
        dict[str, str]: wnid -> class description.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be loaded or has no ``class_description``
            dict.
    """
    import torch

    if not osp.isfile(tree_file):
        raise FileNotFoundError(
            f'ImageNet-21K tree file {tree_file}: file not found; get '
            'imagenet21k_miil_tree.pth from the MIIL ImageNet-21K repo or '
            'pass classnames_file')
    try:
        tree = torch.load(tree_file, map_location='cpu', weights_only=True)
    except Exception as e:  # torch raises several types here
        raise ValueError(f'ImageNet-21K tree file {tree_file}: cannot be '
                         f'loaded ({_first_line(e)})') from e
    descriptions = tree.get('class_description') \
        if isinstance(tree, dict) else None
    if not isinstance(descriptions, dict):
        raise ValueError(f'ImageNet-21K tree file {tree_file}: no '
                         "'class_description' dict (wnid -> name) in it")
    return descriptions


def names_from_tree(wnids: List[str], tree_file: str) -> List[str]:
    """Class names of ``wnids`` from the MIIL tree file.

    Args:
        wnids (list[str]): WordNet ids in label order.
        tree_file (str): Path of ``imagenet21k_miil_tree.pth``.

    Returns:
        list[str]: One description per wnid.

    Raises:
        ValueError: If a wnid has no description.
    """
    descriptions = load_tree_descriptions(tree_file)
    missing = [wnid for wnid in wnids if wnid not in descriptions]
    if missing:
        raise ValueError(
            f'ImageNet-21K tree file {tree_file}: no class_description for '
            f'wnid {missing[0]!r} ({len(missing)} of {len(wnids)} class '
            'folders missing)')
    return [str(descriptions[wnid]) for wnid in wnids]


@DATASETS.register_module()
class ImageNet21K(ImageFileChecks, BaseDataset):
    """ImageNet-21K winter21 as processed by MIIL (``imagenet21k_resized``).

    Layout::

        <data_root>/imagenet21k_train/<wnid>/*.JPEG
        <data_root>/imagenet21k_val/<wnid>/*.JPEG
        <data_root>/imagenet21k_miil_tree.pth

    Labels are ``enumerate(sorted(train wnid folders))`` for both splits, so
    val labels agree with train; a val folder missing from train is an
    error. Class names come from the tree file's ``class_description`` or
    from ``classnames_file`` (a plain file in label order, or a
    ``wnid name`` file) and are passed through :func:`clean_classname`.

    Args:
        data_root (str): Dataset root (e.g. ``data/imagenet21k_resized``).
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        classnames_file (str, optional): Names file used instead of the tree
            file. Relative to ``data_root`` unless absolute.
            Defaults to None.
        tree_file (str): The MIIL semantic tree, relative to ``data_root``
            unless absolute. Defaults to ``'imagenet21k_miil_tree.pth'``.
        num_shots (int, optional): Images per class of the train split (a
            deterministic subset); None keeps all. Ignored for val.
            Defaults to 16.
        seed (int): Seed of the few-shot subset. Defaults to 42.
        cache_dir (str, optional): Few-shot cache folder. Defaults to
            ``<data_root>/split_fewshot``.
        metainfo (dict, optional): Extra meta information; ``classes`` and
            ``wnids`` are always set from the data. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``lazy_init``, ``indices``...).
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 classnames_file: Optional[str] = None,
                 tree_file: str = 'imagenet21k_miil_tree.pth',
                 num_shots: Optional[int] = 16,
                 seed: int = 42,
                 cache_dir: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        reject_classes_kwarg(kwargs, 'ImageNet21K')
        if split not in SPLITS:
            raise ValueError(f'ImageNet21K: split must be one of {SPLITS}, '
                             f'got {split!r}')
        if not data_root or not osp.isdir(osp.expanduser(data_root)):
            raise FileNotFoundError(
                f'ImageNet21K data_root {data_root}: directory not found; '
                f'expected {LAYOUT}')
        root = osp.expanduser(data_root)
        self.split = split
        self.num_shots = num_shots if split == 'train' else None
        self.seed = seed
        self.train_root = osp.join(root, 'imagenet21k_train')
        self.split_root = osp.join(root, f'imagenet21k_{split}')
        self.cache_dir = resolve_path(cache_dir, root) if cache_dir \
            else osp.join(root, FEWSHOT_CACHE_DIRNAME)
        self.wnids = list_class_folders(self.train_root, LAYOUT)
        names = self._class_names(root, classnames_file, tree_file)
        super().__init__(
            ann_file='',
            metainfo=build_metainfo(metainfo, names, wnids=tuple(self.wnids)),
            data_root=data_root,
            **kwargs)

    def _class_names(self, root: str, classnames_file: Optional[str],
                     tree_file: str) -> List[str]:
        """Human-readable names of the train wnids.

        Args:
            root (str): Dataset root.
            classnames_file (str, optional): Names file, preferred if given.
            tree_file (str): The MIIL tree file.

        Returns:
            list[str]: Cleaned names in label order.
        """
        if classnames_file:
            names = names_for_keys(self.wnids,
                                   resolve_path(classnames_file, root))
        else:
            names = names_from_tree(self.wnids, resolve_path(tree_file, root))
        return [clean_classname(name) for name in names]

    def load_data_list(self) -> List[dict]:
        """List the images of the split and apply few-shot (train only).

        Returns:
            list[dict]: ``dict(img_path, gt_label)`` per image.
        """
        wnid_to_label = {wnid: i for i, wnid in enumerate(self.wnids)}
        if self.split != 'train':
            self._check_split_folders(wnid_to_label)
        samples = scan_class_folders(self.split_root, wnid_to_label, LAYOUT)
        samples = select_fewshot(samples, self.num_shots, self.seed,
                                 self.cache_dir)
        return to_data_list(self.split_root, samples)

    def _check_split_folders(self, wnid_to_label: Dict[str, int]) -> None:
        """Check that every val class folder is a train class folder.

        Args:
            wnid_to_label (dict[str, int]): Train wnid -> label.

        Raises:
            ValueError: On the first val folder unknown to train.
        """
        for wnid in list_class_folders(self.split_root, LAYOUT):
            if wnid not in wnid_to_label:
                raise ValueError(
                    f'{osp.join(self.split_root, wnid)}: class folder is not '
                    f'in {self.train_root}; labels follow the train folders')

    def extra_repr(self) -> List[str]:
        """Extra lines of ``repr(dataset)``.

        Returns:
            list[str]: Split and few-shot settings.
        """
        return [
            f'Split: \t{self.split}',
            f'Few-shot: \tnum_shots={self.num_shots}, seed={self.seed}'
        ]
