# Copyright (c) pomp_mm contributors. All rights reserved.
"""Transfer-evaluation datasets in CoOp's on-disk layouts.

* :class:`CoOpSplitDataset`: any dataset described by one of CoOp's
  ``split_zhou_*.json`` files, ``{"train": [[relpath, label, classname],
  ...], "val": [...], "test": [...]}`` with paths relative to an image
  folder (OxfordPets, Flowers102, Food101, SUN397, StanfordCars, UCF101,
  EuroSAT, Caltech101, DTD). Class names are read from the split file.
* :class:`FGVCAircraftDataset`: FGVC-Aircraft's own
  ``images_variant_{split}.txt`` + ``variants.txt`` files.
* :class:`ImageNetFolderDataset`: ImageNet-1K / -Sketch / -A / -R (class
  folders named by WordNet id) and ImageNet-V2 (folders ``0`` ... ``999``),
  named with CLIP's curated ImageNet class names, which ship with pomp_mm
  (``pomp_mm/cls/classnames/imagenet.txt``).

All register in mmpretrain's ``DATASETS`` and set ``metainfo['classes']`` to
the human-readable names the text classifiers are built from.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from pomp_mm.core.vocabulary import (load_classnames, load_wnid_names,
                                     read_lines, resolve_path)
from .folder import (FEWSHOT_CACHE_DIRNAME, ClassFolderDataset, build_metainfo,
                     list_class_folders, list_images, reject_classes_kwarg,
                     select_fewshot, to_data_list)

Sample = Tuple[str, int]
#: Folder of the class-name files that ship with pomp_mm.
BUILTIN_CLASSNAMES_DIR = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'classnames')
#: CLIP's curated ImageNet-1K names, ``<wnid> <name>`` in label order.
IMAGENET_CLASSNAMES_FILE = osp.join(BUILTIN_CLASSNAMES_DIR, 'imagenet.txt')
SPLITS = ('train', 'val', 'test')


def _check_image(root: str, rel_path: str, where: str) -> None:
    """Fail early, in one line, when a listed image is not on disk.

    Args:
        root (str): The folder image paths are relative to.
        rel_path (str): The first listed image.
        where (str): What lists it, for the message.

    Raises:
        FileNotFoundError: If ``root/rel_path`` is not a file.
    """
    path = osp.join(root, rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{where}: image {path} not found; image paths must be relative '
            f'to {root} (check data_root / image_dir)')


def _fewshot_cache_dir(data_root: str, tag: str,
                       cache_dir: Optional[str]) -> str:
    """``cache_dir`` resolved, or ``<data_root>/split_fewshot/<tag>``."""
    if cache_dir:
        return resolve_path(cache_dir, data_root)
    return osp.join(osp.expanduser(data_root), FEWSHOT_CACHE_DIRNAME, tag)


@DATASETS.register_module()
class CoOpSplitDataset(BaseDataset):
    """A dataset described by a CoOp ``split_zhou_*.json`` file.

    Layout (CoOp's DATASETS.md), e.g. OxfordPets::

        <data_root>/images/Abyssinian_1.jpg ...
        <data_root>/split_zhou_OxfordPets.json

    Each split of the JSON lists ``[relpath, label, classname]`` with
    ``relpath`` relative to ``<data_root>/<image_dir>``. Labels must be
    ``0 .. N-1`` over the whole file, one class name per label; the class
    names (``metainfo['classes']``) come from the file.

    Args:
        data_root (str): Dataset root.
        split_file (str): The split JSON, relative to ``data_root`` unless
            absolute.
        image_dir (str): Image folder under ``data_root`` the JSON paths are
            relative to (``'images'``, ``'jpg'``, ``'101_ObjectCategories'``,
            ``'2750'``, ``'SUN397'``, ``'UCF-101-midframes'``; ``''`` for
            StanfordCars). Defaults to ''.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
            Defaults to ``'test'``.
        num_shots (int, optional): Keep this many images per class
            (deterministic, cached subset). Defaults to None (all).
        seed (int): Seed of the few-shot subset. Defaults to 1.
        cache_dir (str, optional): Few-shot cache folder. Defaults to
            ``<data_root>/split_fewshot/<split>``.
        metainfo (dict, optional): Extra meta information; ``classes`` is
            always set from the file. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``lazy_init``, ...).
    """

    def __init__(self,
                 data_root: str,
                 split_file: str,
                 image_dir: str = '',
                 split: str = 'test',
                 num_shots: Optional[int] = None,
                 seed: int = 1,
                 cache_dir: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        reject_classes_kwarg(kwargs, type(self).__name__)
        if split not in SPLITS:
            raise ValueError(f'{type(self).__name__}: split={split!r}; '
                             f'expected one of {SPLITS}')
        self.split = split
        self.num_shots = num_shots
        self.seed = seed
        self.split_path = resolve_path(split_file, data_root)
        self.image_root = osp.normpath(
            osp.join(osp.expanduser(data_root), image_dir))
        self.cache_dir = _fewshot_cache_dir(data_root, split, cache_dir)
        self._splits = read_coop_split(self.split_path)
        classes = classes_of_split(self._splits, self.split_path)
        if split not in self._splits:
            raise ValueError(
                f'split file {self.split_path}: has no {split!r} split '
                f'(keys: {", ".join(self._splits)})')
        super().__init__(ann_file=osp.abspath(self.split_path),
                         metainfo=build_metainfo(metainfo, classes),
                         data_root=data_root,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        """The images of the split (few-shot if ``num_shots`` is set).

        Returns:
            list[dict]: ``dict(img_path, gt_label)`` per image.
        """
        samples = [(path, label)
                   for path, label, _ in self._splits[self.split]]
        if not samples:
            raise ValueError(f'split file {self.split_path}: the '
                             f'{self.split!r} split is empty')
        _check_image(
            self.image_root, samples[0][0],
            f'split file {self.split_path} ({self.split!r}, entry 0)')
        samples = select_fewshot(samples, self.num_shots, self.seed,
                                 self.cache_dir)
        return to_data_list(self.image_root, samples)

    def extra_repr(self) -> List[str]:
        """Extra lines of ``repr(dataset)``."""
        return [
            f'Split file: \t{self.split_path} ({self.split})',
            f'Image root: \t{self.image_root}'
        ]


def read_coop_split(path: str) -> Dict[str, List[Tuple[str, int, str]]]:
    """Read and validate a CoOp ``split_zhou_*.json`` file.

    Args:
        path (str): The JSON file.

    Returns:
        dict[str, list[tuple[str, int, str]]]: split -> entries
        ``(relpath, label, classname)``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not JSON, not a dict of lists, or an entry is
            not ``[str, int, str]``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'split file {path}: file not found; expected CoOp\'s '
            'split_zhou_<Dataset>.json in the dataset root (see '
            'docs/classification.md)')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f'split file {path}: not valid JSON ({e})') from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f'split file {path}: expected a JSON object '
                         '{"train": [...], "val": [...], "test": [...]}')
    splits = {}
    for name, items in data.items():
        if not isinstance(items, list):
            raise ValueError(f'split file {path}: "{name}" is a '
                             f'{type(items).__name__}, expected a list of '
                             '[relpath, label, classname]')
        entries = []
        for i, item in enumerate(items):
            ok = (isinstance(item, (list, tuple)) and len(item) == 3
                  and isinstance(item[0], str) and item[0]
                  and isinstance(item[1], int)
                  and not isinstance(item[1], bool)
                  and isinstance(item[2], str) and item[2].strip())
            if not ok:
                raise ValueError(
                    f'split file {path}: "{name}"[{i}] is {item!r}; '
                    'expected [relpath, label, classname]')
            entries.append((item[0], item[1], item[2]))
        splits[name] = entries
    return splits


def classes_of_split(splits: Dict[str, List[Tuple[str, int, str]]],
                     path: str) -> List[str]:
    """Class names in label order from all splits of a CoOp file.

    Args:
        splits (dict): As returned by :func:`read_coop_split`.
        path (str): The file, for messages.

    Returns:
        list[str]: ``names[label]``.

    Raises:
        ValueError: If a label has two names or labels are not
            ``0 .. N-1``.
    """
    names: Dict[int, Tuple[str, str]] = {}
    for split, entries in splits.items():
        for i, (_, label, name) in enumerate(entries):
            seen = names.setdefault(label, (name, f'"{split}"[{i}]'))
            if seen[0] != name:
                raise ValueError(
                    f'split file {path}: label {label} is {seen[0]!r} at '
                    f'{seen[1]} but {name!r} at "{split}"[{i}]')
    if not names:
        raise ValueError(f'split file {path}: has no entries')
    missing = sorted(set(range(max(names) + 1)) - set(names))
    if min(names) < 0 or missing:
        bad = min(names) if min(names) < 0 else missing[0]
        raise ValueError(f'split file {path}: labels must be 0..N-1, but '
                         f'label {bad} is {"used" if bad < 0 else "missing"}')
    return [names[i][0] for i in range(len(names))]


@DATASETS.register_module()
class FGVCAircraftDataset(BaseDataset):
    """FGVC-Aircraft (variant level, 100 classes) from its own files.

    Layout (CoOp's DATASETS.md)::

        <data_root>/images/1025794.jpg ...
        <data_root>/variants.txt                 # 100 names, label order
        <data_root>/images_variant_{train,val,test}.txt  # "<id> <variant>"

    Args:
        data_root (str): Dataset root (``fgvc_aircraft``, i.e. the
            archive's ``data`` folder).
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'trainval'``.
            Defaults to ``'test'``.
        image_dir (str): Image folder under ``data_root``.
            Defaults to ``'images'``.
        num_shots (int, optional): Images per class (cached subset).
            Defaults to None (all).
        seed (int): Seed of the few-shot subset. Defaults to 1.
        cache_dir (str, optional): Few-shot cache folder. Defaults to
            ``<data_root>/split_fewshot/<split>``.
        metainfo (dict, optional): Extra meta information. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    AIRCRAFT_SPLITS = ('train', 'val', 'test', 'trainval')

    def __init__(self,
                 data_root: str,
                 split: str = 'test',
                 image_dir: str = 'images',
                 num_shots: Optional[int] = None,
                 seed: int = 1,
                 cache_dir: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        reject_classes_kwarg(kwargs, type(self).__name__)
        if split not in self.AIRCRAFT_SPLITS:
            raise ValueError(f'{type(self).__name__}: split={split!r}; '
                             f'expected one of {self.AIRCRAFT_SPLITS}')
        self.split = split
        self.num_shots = num_shots
        self.seed = seed
        root = osp.expanduser(data_root)
        self.image_root = osp.normpath(osp.join(root, image_dir))
        self.cache_dir = _fewshot_cache_dir(data_root, split, cache_dir)
        self.variants_path = osp.join(root, 'variants.txt')
        classes = load_classnames(self.variants_path)
        super().__init__(ann_file='',
                         metainfo=build_metainfo(metainfo, classes),
                         data_root=data_root,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        """Images of the split with labels from ``variants.txt``."""
        label_of = {name: i for i, name in enumerate(self.CLASSES)}
        parts = ('train',
                 'val') if self.split == 'trainval' else (self.split, )
        root = osp.expanduser(self.data_root)
        samples: List[Sample] = []
        for part in parts:
            path = osp.join(root, f'images_variant_{part}.txt')
            for lineno, line in enumerate(read_lines(path, 'split file'),
                                          start=1):
                fields = line.split(None, 1)
                if len(fields) != 2:
                    raise ValueError(
                        f'split file {path}: line {lineno} is {line!r}; '
                        'expected "<image id> <variant>"')
                image_id, variant = fields[0], fields[1].strip()
                if variant not in label_of:
                    raise ValueError(
                        f'split file {path}: line {lineno} has variant '
                        f'{variant!r}, which is not in {self.variants_path}')
                samples.append((f'{image_id}.jpg', label_of[variant]))
        _check_image(self.image_root, samples[0][0],
                     f'split file images_variant_{parts[0]}.txt (line 1)')
        samples = select_fewshot(samples, self.num_shots, self.seed,
                                 self.cache_dir)
        return to_data_list(self.image_root, samples)


@DATASETS.register_module()
class ImageNetFolderDataset(ClassFolderDataset):
    """ImageNet-1K and its variants, named with CLIP's curated class names.

    Two folder conventions:

    * ``folder_names='wnid'``: one folder per WordNet id (ImageNet
      ``images/train`` and ``images/val`` in CoOp's layout, ImageNet-Sketch
      ``images``, ImageNet-A ``imagenet-a``, ImageNet-R ``imagenet-r``).
      The classes are the folders present, in sorted order, as CoOp reads
      them: 1000 for ImageNet / Sketch, the 200-class subsets for -A / -R.
    * ``folder_names='index'``: folders ``0`` ... ``999`` holding label
      ``int(folder)`` (ImageNetV2's ``imagenetv2-matched-frequency-format-
      val``); the classes are all the names of ``classnames_file``.

    Args:
        data_root (str): Dataset root.
        data_prefix (str | dict): Sub-folder with the class folders.
            Defaults to ''.
        classnames_file (str, optional): A ``<wnid> <name>`` file (e.g.
            CoOp's ``classnames.txt``); None uses CLIP's curated names that
            ship with pomp_mm. Defaults to None.
        folder_names (str): ``'wnid'`` or ``'index'``. Defaults to
            ``'wnid'``.
        **kwargs: Arguments of :class:`ClassFolderDataset` (``num_shots``,
            ``seed``, ``pipeline``, ...).
    """

    def __init__(self,
                 data_root: str,
                 data_prefix: str = '',
                 classnames_file: Optional[str] = None,
                 folder_names: str = 'wnid',
                 **kwargs) -> None:
        if folder_names not in ('wnid', 'index'):
            raise ValueError(f'{type(self).__name__}: folder_names='
                             f"{folder_names!r}; expected 'wnid' or 'index'")
        self.folder_names = folder_names
        if classnames_file is None:
            classnames_file = IMAGENET_CLASSNAMES_FILE
        super().__init__(data_root=data_root,
                         data_prefix=data_prefix,
                         classnames_file=classnames_file,
                         **kwargs)

    def _resolve_classes(self) -> List[str]:
        if self.folder_names == 'wnid':
            return super()._resolve_classes()
        names = list(load_wnid_names(self.classnames_path).values())
        self.class_folders = list_class_folders(self.image_root,
                                                self._layout())
        for folder in self.class_folders:
            if not folder.isdigit() or int(folder) >= len(names):
                raise ValueError(
                    f'{osp.join(self.image_root, folder)}: expected class '
                    f'folders named 0 .. {len(names) - 1} (ImageNetV2 '
                    'format)')
        return names

    def _layout(self) -> str:
        if self.folder_names == 'index':
            return f'{self.image_root}/<0..999>/<image>.jpeg (ImageNetV2)'
        return f'{self.image_root}/<wnid>/<image>.JPEG'

    def load_data_list(self) -> List[dict]:
        if self.folder_names == 'wnid':
            return super().load_data_list()
        samples: List[Sample] = []
        for folder in self.class_folders:
            samples.extend(
                (f'{folder}/{name}', int(folder))
                for name in list_images(osp.join(self.image_root, folder)))
        samples = select_fewshot(samples, self.num_shots, self.seed,
                                 self.cache_dir)
        return to_data_list(self.image_root, samples)


def builtin_classnames(name: str) -> str:
    """Path of a class-name file shipped with pomp_mm.

    Args:
        name (str): ``'imagenet'``, ``'imagenet_a'`` or ``'imagenet_r'``.

    Returns:
        str: The file path.
    """
    path = osp.join(BUILTIN_CLASSNAMES_DIR, f'{name}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f'no built-in class-name file {name!r} '
                                f'({path})')
    return path


__all__: Sequence[str] = ('CoOpSplitDataset', 'FGVCAircraftDataset',
                          'ImageNetFolderDataset', 'read_coop_split',
                          'classes_of_split', 'builtin_classnames')
