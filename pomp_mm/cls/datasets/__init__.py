# Copyright (c) pomp_mm contributors. All rights reserved.
"""Classification datasets of pomp_mm; importing this package registers them
in ``mmpretrain.registry.DATASETS``: ``ImageNet21K``, ``ClassFolderDataset``,
``EmbeddedDataset`` and the transfer datasets of :mod:`.transfer`."""
from pomp_mm.core.vocabulary import (clean_classname, is_wnid_names_file, load_classnames,
                         load_wnid_names, names_for_keys, resolve_path)
from .embedded import (EmbeddedDataset, ensure_embedded_dataset,
                       generate_embedded_dataset)
from .fewshot import cached_fewshot_subset, fewshot_cache_name, fewshot_subset
from .folder import (IMG_EXTENSIONS, ClassFolderDataset, list_class_folders,
                     scan_class_folders)
from .imagenet21k import ImageNet21K, load_tree_descriptions

__all__ = [
    'ImageNet21K', 'ClassFolderDataset', 'EmbeddedDataset',
    'generate_embedded_dataset', 'ensure_embedded_dataset', 'fewshot_subset',
    'cached_fewshot_subset', 'fewshot_cache_name', 'load_classnames',
    'load_wnid_names', 'is_wnid_names_file', 'names_for_keys',
    'clean_classname', 'resolve_path', 'IMG_EXTENSIONS', 'list_class_folders',
    'scan_class_folders', 'load_tree_descriptions'
]
from .transfer import (CoOpSplitDataset, FGVCAircraftDataset,  # noqa: E402
                       ImageNetFolderDataset, builtin_classnames)

__all__ += ['CoOpSplitDataset', 'FGVCAircraftDataset',
            'ImageNetFolderDataset', 'builtin_classnames']
