# Copyright (c) pomp_mm contributors. All rights reserved.
"""A generic image-classification dataset: class folders or a label list.

The folder-scanning helpers here are shared with
:class:`pomp_mm.cls.datasets.ImageNet21K`.
"""
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from PIL import Image

from pomp_mm.core.vocabulary import (clean_classname, is_wnid_names_file, load_classnames,
                         load_wnid_names, names_for_keys, resolve_path)
from .fewshot import cached_fewshot_subset, fewshot_cache_name

Sample = Tuple[str, int]

#: Image file extensions that are scanned (compared case-insensitively).
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
#: Default few-shot cache folder, relative to ``data_root``. A folder of this
#: name is never taken for a class folder.
FEWSHOT_CACHE_DIRNAME = 'split_fewshot'


def is_image_file(name: str) -> bool:
    """Tell whether a file name has one of :data:`IMG_EXTENSIONS`.

    Args:
        name (str): A file name.

    Returns:
        bool: True for an image file (hidden files are not images).
    """
    return not name.startswith('.') and name.lower().endswith(IMG_EXTENSIONS)


#: How OpenMMLab's default loader (``LoadImageFromFile``, OpenCV) turns an
#: image that is not 8-bit RGB into 8-bit colour, by PIL mode.
CONVERSIONS = {
    'L': 'grey replicated to 3 channels',
    '1': 'black/white replicated to 3 channels',
    'LA': 'alpha dropped, grey replicated to 3 channels',
    'P': 'palette expanded to RGB',
    'PA': 'palette expanded to RGB, alpha dropped',
    'RGBA': 'alpha channel dropped',
    'CMYK': 'converted from CMYK',
    'YCbCr': 'converted from YCbCr',
}


def inspect_image(path: str) -> str | None:
    """Check that an image file can be decoded; describe a non-RGB one.

    Only the header is read (PIL), not the pixels.

    Args:
        path (str): The image file.

    Returns:
        str | None: None for an 8-bit RGB image, else e.g. ``'mode RGBA
        (alpha channel dropped)'``: its mode and how the loader converts
        it.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is no image PIL can identify.
    """
    try:
        with Image.open(path) as im:
            mode = im.mode
            tile = im.tile[0] if im.tile else None
    except FileNotFoundError:
        raise FileNotFoundError(f'image {path}: file not found') from None
    except Exception as e:  # noqa: BLE001 - any reader error: one line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise ValueError(
            f'image {path} cannot be read ({reason}); expected a '
            f'{"/".join(x[1:].upper() for x in IMG_EXTENSIONS)} image'
        ) from None
    args = tile[3] if tile is not None else ''
    raw = args if isinstance(args, str) else (
        args[0] if args and isinstance(args[0], str) else '')
    deep = ';16' in raw or mode.startswith('I') or mode == 'F'
    if mode == 'RGB' and not deep:
        return None
    if deep:
        colour = mode.startswith('RGB')
        bits = '16-bit' if '16' in raw + mode else 'high-bit-depth'
        return (f'{bits} {"colour" if colour else "grey"}, mode {mode} '
                '(values scaled to 8 bits' +
                ('' if colour else ', grey replicated to 3 channels') + ')')
    return f'mode {mode} ({CONVERSIONS.get(mode, "converted to RGB")})'


class ImageFileChecks:
    """Dataset mix-in: check each image file once, before its first load.

    An unreadable file stops the run with one line naming it. A file that
    is not 8-bit RGB (grayscale, RGBA, palette, CMYK, 16-bit) is converted
    to 8-bit colour by the loader, as OpenMMLab always does, with one
    warning per mode and dataset naming the first such file. Put it before
    the mmengine dataset base class; data infos need an ``img_path``.

    The check reads the file's header with PIL the first time a sample is
    read; later reads of that sample (every later epoch) go straight to the
    pipeline. The checked flags live in shared memory, allocated when the
    dataset is initialised, so DataLoader workers, persistent or not, see
    each other's checks: PIL opens a file at most once per run. When a
    checked file later fails to load (it changed on disk), it is inspected
    again for the same one-line error.
    """

    def full_init(self) -> None:
        """Load the data list, then allocate the checked flags."""
        super().full_init()
        self._image_checked_flags()

    def get_subset_(self, indices) -> None:
        """mmengine's in-place subset; the checked flags start over."""
        super().get_subset_(indices)
        self._reset_image_checks()

    def get_subset(self, indices):
        """mmengine's subset copy; its checked flags start over."""
        subset = super().get_subset(indices)
        subset._reset_image_checks()
        return subset

    def _reset_image_checks(self) -> None:
        self.__dict__.pop('_image_checked', None)
        if getattr(self, '_fully_initialized', True):
            self._image_checked_flags()

    def _image_checked_flags(self) -> torch.Tensor:
        """One bool per sample, True once its file was checked (shared
        memory: forked or spawned workers write to the same flags)."""
        flags = self.__dict__.get('_image_checked')
        if flags is None or len(flags) != len(self):
            flags = torch.zeros(len(self), dtype=torch.bool).share_memory_()
            self._image_checked = flags
        return flags

    def _check_image(self, path: str) -> None:
        """Raise for an unreadable file; warn once per non-RGB mode."""
        note = inspect_image(path)
        warned = self.__dict__.setdefault('_warned_modes', set())
        if note and note not in warned:
            warned.add(note)
            print_log(
                f'{type(self).__name__}: image {path} is {note}; it is '
                'converted to 8-bit RGB (expected 8-bit RGB images; '
                'later images of this kind are converted silently)',
                logger='current', level=logging.WARNING)

    def prepare_data(self, idx: int) -> dict:
        """The pipeline's output for sample ``idx``, after the file check
        (the first time the sample is read only).

        Args:
            idx (int): Sample index.

        Returns:
            dict: The transformed sample.
        """
        info = self.get_data_info(idx)
        path = info.get('img_path')
        if not isinstance(path, str):
            return self.pipeline(info)
        checked = self._image_checked_flags()
        if not checked[idx]:
            self._check_image(path)
            checked[idx] = True
            return self.pipeline(info)
        try:
            return self.pipeline(info)
        except Exception:
            self._check_image(path)  # changed since: the one-line error
            raise


def list_class_folders(root: str, layout: str) -> List[str]:
    """Sorted names of the class sub-folders of ``root``.

    Hidden folders and the few-shot cache folder are skipped.

    Args:
        root (str): The folder that holds one sub-folder per class.
        layout (str): The expected layout, quoted in error messages.

    Returns:
        list[str]: Folder names in label order.

    Raises:
        FileNotFoundError: If ``root`` is not a directory.
        ValueError: If ``root`` has no class folders.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'{root}: directory not found; expected {layout}')
    with os.scandir(root) as entries:
        folders = sorted(e.name for e in entries
                         if e.is_dir() and not e.name.startswith('.')
                         and e.name != FEWSHOT_CACHE_DIRNAME)
    if not folders:
        raise ValueError(f'{root}: no class folders; expected {layout}')
    return folders


def list_images(folder: str) -> List[str]:
    """Sorted image file names directly inside ``folder``.

    Args:
        folder (str): A class folder.

    Returns:
        list[str]: File names (not paths) with an image extension.

    Raises:
        ValueError: If the folder holds no image.
    """
    with os.scandir(folder) as entries:
        names = sorted(
            e.name for e in entries if is_image_file(e.name) and e.is_file())
    if not names:
        raise ValueError(f'class folder {folder} has no images (expected '
                         f'files ending in {", ".join(IMG_EXTENSIONS)})')
    return names


def scan_class_folders(root: str, folder_to_label: Dict[str, int],
                       layout: str) -> List[Sample]:
    """List ``(relative path, label)`` for every image of the class folders.

    Args:
        root (str): The folder holding the class folders.
        folder_to_label (dict[str, int]): The label of each folder of
            ``root``. Every class folder of ``root`` must be a key.
        layout (str): The expected layout, quoted in error messages.

    Returns:
        list[tuple[str, int]]: Paths relative to ``root`` (``folder/file``),
        sorted by folder then file name.

    Raises:
        FileNotFoundError: If ``root`` is missing.
        ValueError: If a folder is not in ``folder_to_label`` or is empty.
    """
    samples: List[Sample] = []
    for folder in list_class_folders(root, layout):
        if folder not in folder_to_label:
            raise ValueError(f'{osp.join(root, folder)}: unknown class '
                             f'folder; expected {layout}')
        label = folder_to_label[folder]
        samples.extend((f'{folder}/{name}', label)
                       for name in list_images(osp.join(root, folder)))
    return samples


def select_fewshot(samples: List[Sample], num_shots: Optional[int], seed: int,
                   cache_dir: Optional[str]) -> List[Sample]:
    """Apply the (cached) few-shot selection when ``num_shots`` is set.

    Args:
        samples (list[tuple[str, int]]): ``(relative path, label)`` pairs.
        num_shots (int, optional): Samples per class; None keeps all.
        seed (int): RNG seed of the subset.
        cache_dir (str, optional): Where ``shot_{N}-seed_{S}.json`` is kept;
            None disables the cache.

    Returns:
        list[tuple[str, int]]: The selected samples.
    """
    if num_shots is None:
        return samples
    cache_file = None
    if cache_dir is not None:
        cache_file = osp.join(cache_dir, fewshot_cache_name(num_shots, seed))
    return cached_fewshot_subset(samples, num_shots, seed, cache_file)


def to_data_list(root: str, samples: Sequence[Sample]) -> List[dict]:
    """Turn ``(relative path, label)`` pairs into mmpretrain data infos.

    Args:
        root (str): The folder the paths are relative to.
        samples (Sequence[tuple[str, int]]): The samples.

    Returns:
        list[dict]: ``dict(img_path=..., gt_label=int)`` per sample.
    """
    return [
        dict(img_path=osp.join(root, path), gt_label=int(label))
        for path, label in samples
    ]


def build_metainfo(metainfo: Optional[dict], classes: Sequence[str],
                   **extra) -> dict:
    """Merge a user ``metainfo`` with the class names found by a dataset.

    Args:
        metainfo (dict, optional): The ``metainfo`` passed by the config.
        classes (Sequence[str]): Human-readable class names in label order.
        **extra: More keys to record (e.g. the class folders).

    Returns:
        dict: A new metainfo dict whose ``classes`` is a tuple.
    """
    merged = dict(metainfo or {})
    merged.update(extra)
    merged['classes'] = tuple(classes)
    return merged


def reject_classes_kwarg(kwargs: dict, dataset: str) -> None:
    """Refuse mmpretrain's ``classes=`` argument: names come from files.

    Args:
        kwargs (dict): The extra keyword arguments of the dataset.
        dataset (str): The dataset class name, for the message.

    Raises:
        TypeError: If ``classes`` was passed.
    """
    if 'classes' in kwargs:
        raise TypeError(f'{dataset} takes its class names from the data or '
                        'from classnames_file; do not pass classes=')


def _prefix_of(data_prefix: Union[str, dict]) -> str:
    """The image prefix of an mmengine ``data_prefix`` argument.

    Args:
        data_prefix (str | dict): ``'sub/dir'`` or ``dict(img_path=...)``.

    Returns:
        str: The prefix ('' when none).
    """
    if isinstance(data_prefix, dict):
        return data_prefix.get('img_path', '') or ''
    return data_prefix or ''


@DATASETS.register_module()
class ClassFolderDataset(ImageFileChecks, BaseDataset):
    """Image classification from class sub-folders or an annotation list.

    Two modes:

    * **folder mode** (``ann_file`` is None): ``<data_root>/<prefix>/
      <class_folder>/<image>``. Labels follow the sorted folder names. Class
      names come from ``classnames_file`` (one name per folder, same order,
      or a ``wnid name`` file) or are the folder names passed through
      :func:`clean_classname`.
    * **list mode**: ``ann_file`` has lines ``relative/path.jpg <label>``
      (paths relative to ``<data_root>/<prefix>``) and ``classnames_file``
      (required) gives the names in label order.

    ``metainfo['classes']`` holds the human-readable names used to build
    prompts. ``ann_file``, ``classnames_file`` and ``cache_dir`` are
    relative to ``data_root`` unless absolute (a relative path that exists
    only from the working directory is also accepted).

    Args:
        data_root (str): Dataset root.
        classnames_file (str, optional): Names file, see above.
            Defaults to None.
        ann_file (str, optional): Annotation list; None selects folder mode.
            Defaults to None.
        num_shots (int, optional): Keep this many images per class (a
            deterministic subset, see :func:`fewshot_subset`); None keeps
            all. Defaults to None.
        seed (int): Seed of the few-shot subset. Defaults to 42.
        cache_dir (str, optional): Folder of the few-shot cache. Defaults to
            ``<data_root>/split_fewshot`` (plus a sub-folder named after the
            prefix or the annotation file).
        metainfo (dict, optional): Extra meta information; ``classes`` is
            always set from the data. Defaults to None.
        data_prefix (str | dict): Sub-folder of ``data_root`` holding the
            images (``'train'`` or ``dict(img_path='train')``).
            Defaults to ''.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``lazy_init``, ``indices``...).
    """

    LAYOUT = '<data_root>/<class_folder>/<image>.jpg|png|... ' \
        '(or pass ann_file)'

    def __init__(self,
                 data_root: str,
                 classnames_file: Optional[str] = None,
                 ann_file: Optional[str] = None,
                 num_shots: Optional[int] = None,
                 seed: int = 42,
                 cache_dir: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 data_prefix: Union[str, dict] = '',
                 **kwargs) -> None:
        reject_classes_kwarg(kwargs, type(self).__name__)
        if not data_root:
            raise ValueError(f'{type(self).__name__}: data_root is required')
        self.num_shots = num_shots
        self.seed = seed
        self.image_root = osp.normpath(
            osp.join(osp.expanduser(data_root), _prefix_of(data_prefix)))
        self.ann_path = resolve_path(ann_file, data_root) if ann_file else None
        self.classnames_path = (
            resolve_path(classnames_file, data_root)
            if classnames_file else None)
        self.cache_dir = self._default_cache_dir(data_root, data_prefix,
                                                 cache_dir)
        self.class_folders: Optional[List[str]] = None
        classes = self._resolve_classes()
        super().__init__(
            ann_file=osp.abspath(self.ann_path) if self.ann_path else '',
            metainfo=build_metainfo(metainfo, classes),
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def _default_cache_dir(self, data_root: str, data_prefix: Union[str, dict],
                           cache_dir: Optional[str]) -> str:
        """The few-shot cache folder of this dataset.

        Args:
            data_root (str): Dataset root.
            data_prefix (str | dict): Image sub-folder.
            cache_dir (str, optional): The configured folder.

        Returns:
            str: ``cache_dir`` resolved, or ``<data_root>/split_fewshot[/tag]``
            where the tag tells apart the prefixes / annotation files of one
            root.
        """
        if cache_dir:
            return resolve_path(cache_dir, data_root)
        base = osp.join(osp.expanduser(data_root), FEWSHOT_CACHE_DIRNAME)
        if self.ann_path:
            tag = osp.splitext(osp.basename(self.ann_path))[0]
        else:
            tag = _prefix_of(data_prefix).strip('/').replace('/', '_')
        return osp.join(base, tag) if tag else base

    def _resolve_classes(self) -> List[str]:
        """Find the class names (cheap: no image is listed).

        Returns:
            list[str]: Human-readable class names in label order.
        """
        if self.ann_path:
            if not self.classnames_path:
                raise ValueError(f'{type(self).__name__}: ann_file '
                                 f'{self.ann_path} needs classnames_file')
            names = names_for_keys_plain(self.classnames_path)
        else:
            self.class_folders = list_class_folders(self.image_root,
                                                    self._layout())
            if self.classnames_path:
                names = names_for_keys(self.class_folders,
                                       self.classnames_path)
            else:
                names = self.class_folders
        return [clean_classname(name) for name in names]

    def _layout(self) -> str:
        """The expected folder layout, with the real root filled in.

        Returns:
            str: Text for error messages.
        """
        return self.LAYOUT.replace('<data_root>', self.image_root)

    def load_data_list(self) -> List[dict]:
        """Scan the folders (or read ``ann_file``) and apply few-shot.

        Returns:
            list[dict]: ``dict(img_path, gt_label)`` per image.
        """
        if self.ann_path:
            samples = read_ann_file(self.ann_path, len(self.CLASSES))
            check_first_image(self.image_root, samples, self.ann_path)
        else:
            folder_to_label = {f: i for i, f in enumerate(self.class_folders)}
            samples = scan_class_folders(self.image_root, folder_to_label,
                                         self._layout())
        samples = select_fewshot(samples, self.num_shots, self.seed,
                                 self.cache_dir)
        return to_data_list(self.image_root, samples)

    def extra_repr(self) -> List[str]:
        """Extra lines of ``repr(dataset)``.

        Returns:
            list[str]: Image root and few-shot settings.
        """
        return [
            f'Image root: \t{self.image_root}',
            f'Few-shot: \tnum_shots={self.num_shots}, seed={self.seed}'
        ]


def names_for_keys_plain(path: str) -> List[str]:
    """Names of a names file used with an annotation list.

    A ``wnid name`` file is accepted too; its order is the label order.

    Args:
        path (str): The names file.

    Returns:
        list[str]: Names in label order.
    """
    if is_wnid_names_file(path):
        return list(load_wnid_names(path).values())
    return load_classnames(path)


def read_ann_file(path: str, num_classes: int) -> List[Sample]:
    """Read ``relative/path.jpg <label>`` lines.

    The label is the last whitespace-separated field, so paths may contain
    spaces.

    Args:
        path (str): The annotation file.
        num_classes (int): Labels must lie in ``[0, num_classes)``.

    Returns:
        list[tuple[str, int]]: ``(relative path, label)`` in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: On an empty file, a blank or malformed line, or a label
            out of range.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'ann_file {path}: file not found')
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    samples = [
        _parse_ann_line(line, lineno, path, num_classes)
        for lineno, line in enumerate(lines, start=1)
    ]
    if not samples:
        raise ValueError(f'ann_file {path}: file is empty; expected lines '
                         '"relative/path.jpg <label>"')
    return samples


def _parse_ann_line(line: str, lineno: int, path: str,
                    num_classes: int) -> Sample:
    """Parse one line of an annotation list.

    Args:
        line (str): The raw line.
        lineno (int): Its 1-based number, for messages.
        path (str): The annotation file, for messages.
        num_classes (int): Number of classes.

    Returns:
        tuple[str, int]: ``(relative path, label)``.
    """
    where = f'ann_file {path}: line {lineno}'
    if not line.strip():
        raise ValueError(f'{where} is empty; expected '
                         '"relative/path.jpg <label>"')
    parts = line.strip().rsplit(None, 1)
    if len(parts) != 2:
        raise ValueError(f'{where} is {line.strip()!r}; expected '
                         '"relative/path.jpg <label>"')
    rel_path, label_str = parts
    try:
        label = int(label_str)
    except ValueError:
        raise ValueError(f'{where} has label {label_str!r}; expected an '
                         'integer') from None
    if not 0 <= label < num_classes:
        raise ValueError(f'{where} has label {label} out of range '
                         f'[0, {num_classes}) (classnames_file has '
                         f'{num_classes} names)')
    return rel_path, label


def check_first_image(root: str, samples: Sequence[Sample],
                      ann_path: str) -> None:
    """Fail early when the first listed image is not under ``root``.

    Checking one file catches a wrong ``data_root`` without a stat per
    image.

    Args:
        root (str): Folder the paths are relative to.
        samples (Sequence[tuple[str, int]]): The annotation samples.
        ann_path (str): The annotation file, for the message.

    Raises:
        FileNotFoundError: If the first image does not exist.
    """
    first = osp.join(root, samples[0][0])
    if not osp.isfile(first):
        raise FileNotFoundError(
            f'ann_file {ann_path}: line 1 image {first} not found; paths '
            f'must be relative to {root}')
