"""Tiny samples of the 15 transfer datasets in their REAL on-disk layouts.

Each generator writes a few small JPEGs plus the dataset's own index files
(CoOp ``split_zhou_*.json``, FGVC-Aircraft ``images_variant_*.txt``,
ImageNet-style class folders) under ``root`` and returns what a correct
reader must find: the class names in label order and the test images with
their labels.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

N_CLASSES = 5


def write_image(path: str, label: int, seed: int, size=(32, 32)) -> None:
    """A JPEG whose colour depends on the label (plus noise)."""
    rng = np.random.default_rng(seed)
    colour = np.array([(label * 97) % 256, (label * 151 + 60) % 256,
                       (label * 53 + 120) % 256],
                      dtype=np.float32)
    img = colour + rng.normal(0, 12, (size[1], size[0], 3))
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path,
                                                                quality=95)


# dataset -> (image_dir, split file, class names, relpath pattern)
SPLIT_DATASETS = {
    'oxford_pets':
    ('images', 'split_zhou_OxfordPets.json',
     ['abyssinian', 'american_bulldog', 'beagle', 'bengal',
      'birman'], '{cls}_{i}.jpg'),
    'flowers102': ('jpg', 'split_zhou_OxfordFlowers.json', [
        'pink primrose', 'globe thistle', 'blanket flower', 'sunflower',
        'daffodil'
    ], 'image_{n:05d}.jpg'),
    'food101':
    ('images', 'split_zhou_Food101.json',
     ['apple_pie', 'baby_back_ribs', 'baklava', 'beef_carpaccio',
      'beignets'], '{cls}/{n}.jpg'),
    'sun397':
    ('SUN397', 'split_zhou_SUN397.json',
     ['abbey', 'airplane cabin', 'airport terminal', 'alley',
      'amphitheater'], '{letter}/{cls}/sun_{n}.jpg'),
    'stanford_cars': ('', 'split_zhou_StanfordCars.json', [
        '2000 AM General Hummer SUV', '2012 Acura RL Sedan',
        '2012 Acura TL Sedan', '2008 Acura TL Type-S', '2012 Acura TSX Sedan'
    ], '{split}/{n:05d}.jpg'),
    'ucf101': ('UCF-101-midframes', 'split_zhou_UCF101.json', [
        'Apply_Eye_Makeup', 'Apply_Lipstick', 'Archery', 'Baby_Crawling',
        'Balance_Beam'
    ], '{cls}/v_{cls}_g01_c0{i}.jpg'),
    'eurosat': ('2750', 'split_zhou_EuroSAT.json', [
        'Annual Crop Land', 'Forest', 'Herbaceous Vegetation Land',
        'Highway or Road', 'Industrial Buildings'
    ], '{cls}/{cls}_{n}.jpg'),
    'caltech101': ('101_ObjectCategories', 'split_zhou_Caltech101.json',
                   ['face', 'leopard', 'motorbike', 'accordion',
                    'airplane'], '{cls}/image_{n:04d}.jpg'),
    'dtd': ('images', 'split_zhou_DescribableTextures.json',
            ['banded', 'blotchy', 'braided', 'bubbly',
             'bumpy'], '{cls}/{cls}_{n:04d}.jpg'),
}
AIRCRAFT = ['707-320', 'A300B4', 'Cessna 172', 'DHC-8-100', 'F-16A/B']
IMAGENET_WNIDS = [
    'n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475'
]  # tench .. hammerhead shark
IMAGENET_NAMES = [
    'tench', 'goldfish', 'great white shark', 'tiger shark', 'hammerhead shark'
]
IMAGENET_A_WNIDS = [
    'n01498041', 'n01531178', 'n01534433', 'n01558993', 'n01580077'
]  # first 5 of the 200-class subset

Result = Tuple[List[str], List[Tuple[str, int]]]


def _split_dataset(key: str, root: str, per_class: Dict[str, int]) -> Result:
    image_dir, split_file, names, pattern = SPLIT_DATASETS[key]
    splits, n, test = {}, 0, []
    for split, count in per_class.items():
        items = []
        for label, cls in enumerate(names):
            for i in range(count):
                n += 1
                rel = pattern.format(cls=cls.replace(' ', '_'),
                                     i=i,
                                     n=n,
                                     letter=cls[0],
                                     split=f'cars_{split}')
                write_image(osp.join(root, image_dir, rel), label, n)
                items.append([rel, label, cls])
                if split == 'test':
                    test.append((osp.join(root, image_dir, rel), label))
        splits[split] = items
    with open(osp.join(root, split_file), 'w') as f:
        json.dump(splits, f)
    return names, test


def _aircraft(root: str, per_class: Dict[str, int]) -> Result:
    with open(osp.join(root, 'variants.txt'), 'w') as f:
        f.write('\n'.join(AIRCRAFT) + '\n')
    n, test = 1000000, []
    for split, count in per_class.items():
        lines = []
        for label, variant in enumerate(AIRCRAFT):
            for _ in range(count):
                n += 1
                write_image(osp.join(root, 'images', f'{n}.jpg'), label, n)
                lines.append(f'{n} {variant}')
                if split == 'test':
                    test.append((osp.join(root, 'images', f'{n}.jpg'), label))
        with open(osp.join(root, f'images_variant_{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return AIRCRAFT, test


def _wnid_folders(folder: str,
                  wnids: List[str],
                  count: int,
                  seed: int = 0) -> List[Tuple[str, int]]:
    out = []
    for label, wnid in enumerate(wnids):
        for i in range(count):
            path = osp.join(folder, wnid, f'{wnid}_{i}.JPEG')
            write_image(path, label, seed + 10 * label + i)
            out.append((path, label))
    return out


def make_dataset(key: str, root: str, train_per_class: int = 2) -> Result:
    """Write a tiny sample of dataset ``key`` under ``root``.

    Args:
        key (str): A config name of ``configs/cls/pomp``.
        root (str): The dataset root (the config's ``data_root``).
        train_per_class (int): Training images per class. Defaults to 2.

    Returns:
        tuple[list[str], list[tuple[str, int]]]: The class names a reader
        must report and the test images with their labels.
    """
    os.makedirs(root, exist_ok=True)
    counts = {'train': train_per_class, 'val': 1, 'test': 1}
    if key in SPLIT_DATASETS:
        return _split_dataset(key, root, counts)
    if key == 'fgvc_aircraft':
        return _aircraft(root, counts)
    if key == 'imagenet':
        _wnid_folders(osp.join(root, 'images', 'train'),
                      IMAGENET_WNIDS,
                      train_per_class,
                      seed=500)
        test = _wnid_folders(osp.join(root, 'images', 'val'), IMAGENET_WNIDS,
                             1)
        return IMAGENET_NAMES, test
    if key in ('imagenet_a', 'imagenet_r', 'imagenet_sketch'):
        sub = {
            'imagenet_a': 'imagenet-a',
            'imagenet_r': 'imagenet-r',
            'imagenet_sketch': 'images'
        }[key]
        wnids = IMAGENET_A_WNIDS if key == 'imagenet_a' else IMAGENET_WNIDS
        test = _wnid_folders(osp.join(root, sub), wnids, 1)
        with open(osp.join(root, sub, 'README.txt'), 'w') as f:
            f.write('not a class folder\n')
        names = {
            'n01498041': 'stingray',
            'n01531178': 'goldfinch',
            'n01534433': 'junco',
            'n01558993': 'American robin',
            'n01580077': 'jay'
        }
        return ([names[w] for w in wnids]
                if key == 'imagenet_a' else IMAGENET_NAMES), test
    if key == 'imagenetv2':
        folder = osp.join(root, 'imagenetv2-matched-frequency-format-val')
        test = []
        for label in (0, 1, 2, 10, 999):  # '10' sorts before '2'
            path = osp.join(folder, str(label), f'{label}.jpeg')
            write_image(path, label % 7, label)
            test.append((path, label))
        return None, test  # all 1000 curated names
    raise KeyError(key)


# -- the readers -------------------------------------------------------------
import pytest  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmpretrain.registry import DATASETS  # noqa: E402

import pomp_mm.cls  # noqa: E402,F401  (registers the datasets)
from pomp_mm.cls.datasets.transfer import IMAGENET_CLASSNAMES_FILE  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL = ('oxford_pets', 'flowers102', 'food101', 'sun397', 'stanford_cars',
       'ucf101', 'eurosat', 'fgvc_aircraft', 'caltech101', 'dtd', 'imagenet',
       'imagenet_a', 'imagenet_r', 'imagenet_sketch', 'imagenetv2')


def dataset_cfg(key: str, data_root: str, which: str = 'test_dataset'):
    """The dataset dict of ``configs/cls/_base_/datasets/<key>.py``."""
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'cls', '_base_', 'datasets', f'{key}.py'))
    ds = cfg[which].to_dict()
    ds['data_root'] = data_root
    ds['pipeline'] = []
    return ds



def curated_names():
    return [
        line.split(' ', 1)[1]
        for line in open(IMAGENET_CLASSNAMES_FILE).read().splitlines()
    ]


@pytest.mark.parametrize('key', ALL)
def test_reader_finds_names_and_labels(key, tmp_path):
    names, test = make_dataset(key, str(tmp_path / key))
    ds = DATASETS.build(dataset_cfg(key, str(tmp_path / key)))
    expected = curated_names() if names is None else names
    assert list(ds.metainfo['classes']) == expected
    got = sorted((osp.normpath(ds.get_data_info(i)['img_path']),
                  ds.get_data_info(i)['gt_label']) for i in range(len(ds)))
    assert got == sorted((osp.normpath(p), y) for p, y in test)


@pytest.mark.parametrize('key', ['dtd', 'fgvc_aircraft', 'imagenet'])
def test_fewshot_train_split(key, tmp_path):
    names, _ = make_dataset(key, str(tmp_path), train_per_class=3)
    cfg = dataset_cfg(key, str(tmp_path), 'train_dataset')
    cfg['num_shots'] = 2
    ds = DATASETS.build(cfg)
    labels = [ds.get_data_info(i)['gt_label'] for i in range(len(ds))]
    assert sorted(labels) == sorted(list(range(len(names))) * 2)
    again = DATASETS.build(cfg)  # the cached subset is reused
    assert [d['img_path'] for d in again.load_data_list()] == \
        [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert any(
        f.endswith('.json') for _, _, fs in os.walk(tmp_path / 'split_fewshot')
        for f in fs)


def _write_split(root, splits):
    with open(osp.join(root, 'split.json'), 'w') as f:
        json.dump(splits, f)
    return dict(type='CoOpSplitDataset',
                data_root=str(root),
                split_file='split.json',
                image_dir='images',
                pipeline=[])


@pytest.mark.parametrize('splits,match', [
    ({
        'test': [['a.jpg', 0]]
    }, r'"test"\[0\] is .*expected \[relpath, '
     r'label, classname\]'),
    ({
        'test': [['a.jpg', 0, 'cat'], ['b.jpg', 0, 'dog']]
    }, r"label 0 is 'cat' .* but 'dog'"),
    ({
        'test': [['a.jpg', 1, 'cat']]
    }, r'label 0 is missing'),
    ({
        'train': [['a.jpg', 0, 'cat']]
    }, r"has no 'test' split"),
    ({
        'test': [['nope.jpg', 0, 'cat']]
    }, r'image .*nope.jpg not found'),
])
def test_split_file_errors_are_one_line(tmp_path, splits, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match) as e:
        DATASETS.build(_write_split(tmp_path, splits))
    assert '\n' not in str(e.value)


def test_missing_split_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'split_zhou_DescribableTex'
                       r'tures.json: file not found'):
        DATASETS.build(dataset_cfg('dtd', str(tmp_path)))


def test_aircraft_unknown_variant(tmp_path):
    make_dataset('fgvc_aircraft', str(tmp_path))
    with open(tmp_path / 'images_variant_test.txt', 'a') as f:
        f.write('1 747-999\n')
    with pytest.raises(ValueError, match=r"line 6 has variant '747-999'"):
        DATASETS.build(dataset_cfg('fgvc_aircraft', str(tmp_path)))


def test_imagenet_folder_errors(tmp_path):
    make_dataset('imagenet_sketch', str(tmp_path))
    os.makedirs(tmp_path / 'images' / 'n99999999')
    with pytest.raises(ValueError, match=r"no name for 'n99999999'"):
        DATASETS.build(dataset_cfg('imagenet_sketch', str(tmp_path)))
    make_dataset('imagenetv2', str(tmp_path / 'v2'))
    os.makedirs(tmp_path / 'v2' / 'imagenetv2-matched-frequency-format-val' /
                'cat')
    with pytest.raises(ValueError, match=r'expected class folders named 0'):
        DATASETS.build(dataset_cfg('imagenetv2', str(tmp_path / 'v2')))


def test_shipped_classnames_match_open_clip():
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
    assert curated_names() == list(IMAGENET_CLASSNAMES)
    folder = osp.dirname(IMAGENET_CLASSNAMES_FILE)
    wnids = [line.split()[0] for line in open(IMAGENET_CLASSNAMES_FILE)]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000
    full = dict(
        line.rstrip('\n').split(' ', 1)
        for line in open(IMAGENET_CLASSNAMES_FILE))
    for sub in ('imagenet_a', 'imagenet_r'):
        pairs = [
            line.rstrip('\n').split(' ', 1)
            for line in open(osp.join(folder, f'{sub}.txt'))
        ]
        assert len(pairs) == 200 and all(full[w] == n for w, n in pairs)
