# Copyright (c) pomp_mm contributors. All rights reserved.
"""Tests of pomp_mm.cls.datasets (tiny synthetic data, CPU, a few seconds)."""
import json
import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
# mmpretrain.datasets first: it imports torchvision before pomp_mm does.
import mmpretrain.datasets  # noqa: F401,I001
from mmpretrain.registry import DATASETS
from PIL import Image

import pomp_mm.cls.datasets as pds
from pomp_mm.cls.datasets import (ClassFolderDataset, ImageNet21K,
                                  cached_fewshot_subset, clean_classname,
                                  fewshot_subset, generate_embedded_dataset,
                                  load_classnames, load_wnid_names)

WNIDS = ['n00000003', 'n00000001', 'n00000002']  # unsorted on purpose
TREE = {
    'n00000001': 'hot_dog',
    'n00000002': 'tabby cat',
    'n00000003': 'golden retriever'
}


def make_images(folder, n, ext='.JPEG'):
    """Write ``n`` tiny images to ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        Image.new('RGB', (4, 4), (i * 20, 0, 0)).save(
            osp.join(folder, f'img_{i}{ext}'), format='PNG')


def write_lines(path, lines):
    """Write text lines, each followed by a newline."""
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    return str(path)


@pytest.fixture
def in21k(tmp_path):
    """A tiny MIIL tree: 3 wnids x 5 train images, x 2 val images."""
    root = tmp_path / 'imagenet21k_resized'
    for wnid in WNIDS:
        make_images(root / 'imagenet21k_train' / wnid, 5)
        make_images(root / 'imagenet21k_val' / wnid, 2, ext='.jpeg')
    (root / 'imagenet21k_train' / WNIDS[0] / 'notes.txt').write_text('x')
    torch.save({
        'class_description': dict(TREE),
        'class_list': WNIDS
    }, root / 'imagenet21k_miil_tree.pth')
    return str(root)


@pytest.fixture
def class_folders(tmp_path):
    """A class-folder root: hot_dog (3 images), tabby_cat (4 images)."""
    root = tmp_path / 'folders'
    make_images(root / 'tabby_cat', 4, ext='.png')
    make_images(root / 'hot_dog', 3, ext='.jpg')
    return str(root)


def folder_of(info):
    """The class folder name of a data info."""
    return osp.basename(osp.dirname(info['img_path']))


# ----------------------------------------------------------------- ImageNet21K
def test_imagenet21k_labels_and_tree_names(in21k):
    ds = ImageNet21K(in21k, split='train', num_shots=None)
    assert ds.metainfo['classes'] == ('hot dog', 'tabby cat',
                                      'golden retriever')
    assert ds.metainfo['wnids'] == tuple(sorted(WNIDS))
    assert len(ds) == 15
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['gt_label'] == sorted(WNIDS).index(folder_of(info))
        assert isinstance(info['gt_label'], int)


def test_imagenet21k_fewshot_and_val_labels(in21k):
    train = ImageNet21K(in21k, split='train', num_shots=2, seed=1)
    assert len(train) == 6
    labels = [train.get_data_info(i)['gt_label'] for i in range(len(train))]
    assert labels == [0, 0, 1, 1, 2, 2]
    assert osp.isfile(osp.join(in21k, 'split_fewshot', 'shot_2-seed_1.json'))
    val = ImageNet21K(in21k, split='val', num_shots=2)  # ignored for val
    assert len(val) == 6
    assert val.metainfo['classes'] == train.metainfo['classes']
    for i in range(len(val)):
        info = val.get_data_info(i)
        assert info['gt_label'] == train.metainfo['wnids'].index(
            folder_of(info))


def test_imagenet21k_val_uses_train_labels(in21k):
    # A val split lacking the first train class keeps the train labels.
    os.rename(
        osp.join(in21k, 'imagenet21k_val', 'n00000001'),
        osp.join(in21k, 'hidden_away'))
    val = ImageNet21K(in21k, split='val')
    assert sorted({val.get_data_info(i)['gt_label']
                   for i in range(len(val))}) == [1, 2]
    make_images(osp.join(in21k, 'imagenet21k_val', 'n00000009'), 1)
    with pytest.raises(ValueError, match='n00000009: class folder is not in'):
        ImageNet21K(in21k, split='val')


def test_imagenet21k_names_from_files(in21k, tmp_path):
    plain = write_lines(tmp_path / 'names.txt', ['a_b', 'c', 'd'])
    ds = ImageNet21K(in21k, classnames_file=plain, num_shots=None)
    assert ds.metainfo['classes'] == ('a b', 'c', 'd')
    wnid_file = write_lines(
        tmp_path / 'wnids.txt',
        ['n00000002\ttabby', 'n00000003 retriever dog', 'n00000001 dog'])
    ds = ImageNet21K(in21k, classnames_file=wnid_file, num_shots=None)
    assert ds.metainfo['classes'] == ('dog', 'tabby', 'retriever dog')


def test_imagenet21k_errors(in21k, tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match='nope.*imagenet21k_train'):
        ImageNet21K(missing)
    torch.save({'class_description': {
        'n00000001': 'x'
    }}, osp.join(in21k, 'small_tree.pth'))
    with pytest.raises(ValueError, match="small_tree.pth.*'n00000002'"):
        ImageNet21K(in21k, tree_file='small_tree.pth')
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        ImageNet21K(in21k, tree_file='absent.pth')
    with pytest.raises(ValueError, match='split'):
        ImageNet21K(in21k, split='test')
    os.makedirs(osp.join(in21k, 'imagenet21k_train', 'n00000004'))
    with pytest.raises(ValueError, match='n00000004 has no images'):
        ImageNet21K(
            in21k,
            classnames_file=write_lines(tmp_path / 'n.txt',
                                        ['a', 'b', 'c', 'd']))


# -------------------------------------------------------------------- few-shot
def sample_list(n_per_class=(10, 10, 1)):
    return [(f'c{label}/img_{i:02d}.jpg', label)
            for label, n in enumerate(n_per_class) for i in range(n)]


def test_fewshot_deterministic_and_local_rng():
    samples = sample_list()
    random.seed(123)
    np.random.seed(123)
    py_state, np_state = random.getstate(), np.random.get_state()
    first = fewshot_subset(samples, 4, seed=42)
    assert random.getstate() == py_state
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    shuffled = list(samples)
    random.Random(0).shuffle(shuffled)
    assert fewshot_subset(samples, 4, seed=42) == first
    assert fewshot_subset(shuffled, 4, seed=42) == first
    assert fewshot_subset(samples, 4, seed=43) != first
    assert [label for _, label in first] == [0] * 4 + [1] * 4 + [2]
    assert first == sorted(first, key=lambda s: (s[1], s[0]))
    with pytest.raises(ValueError, match='num_shots'):
        fewshot_subset(samples, 0, seed=1)


def test_fewshot_matches_dassl_rule():
    # Dassl: labels in sorted order, random.sample(items, num_shots) each.
    samples = sample_list((6, 7))
    rng = random.Random(5)
    expected = []
    for label in (0, 1):
        items = sorted(p for p, lab in samples if lab == label)
        expected += [(p, label) for p in rng.sample(items, 3)]
    assert fewshot_subset(
        samples, 3, seed=5) == sorted(
            expected, key=lambda s: (s[1], s[0]))


def test_fewshot_cache_written_and_reused(tmp_path, monkeypatch):
    cache = str(tmp_path / 'split_fewshot' / 'shot_4-seed_42.json')
    samples = sample_list()
    subset = cached_fewshot_subset(samples, 4, 42, cache)
    with open(cache) as f:
        data = json.load(f)
    assert (data['num_shots'], data['seed'], data['n_total']) == (4, 42, 21)
    assert [tuple(s) for s in data['samples']] == subset
    assert os.listdir(osp.dirname(cache)) == ['shot_4-seed_42.json']

    def boom(*args, **kwargs):
        raise AssertionError('cache not reused')

    monkeypatch.setattr(pds.fewshot, 'fewshot_subset', boom)
    assert cached_fewshot_subset(list(reversed(samples)), 4, 42,
                                 cache) == subset
    monkeypatch.undo()
    # Other parameters (here n_total) are recomputed and the file rewritten.
    more = sample_list((10, 10, 3))
    cached_fewshot_subset(more, 4, 42, cache)
    with open(cache) as f:
        assert json.load(f)['n_total'] == 23
    # A corrupt cache is recomputed too.
    with open(cache, 'w') as f:
        f.write('{not json')
    assert cached_fewshot_subset(samples, 4, 42, cache) == subset


def test_fewshot_unwritable_cache_falls_back(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    cache = str(blocker / 'sub' / 'shot_2-seed_0.json')
    samples = sample_list()
    assert cached_fewshot_subset(samples, 2, 0,
                                 cache) == fewshot_subset(samples, 2, 0)
    assert cached_fewshot_subset(samples, 2, 0,
                                 None) == fewshot_subset(samples, 2, 0)


# ------------------------------------------------------------ class names file
def test_classnames_files(tmp_path):
    assert clean_classname(' hot_dog ') == 'hot dog'
    assert load_classnames(write_lines(tmp_path / 'a.txt',
                                       [' x ', 'y'])) == ['x', 'y']
    assert load_wnid_names(
        write_lines(tmp_path / 'w.txt', ['n01 crane', 'n02\tcrane'])) == {
            'n01': 'crane',
            'n02': 'crane'
        }
    with pytest.raises(ValueError, match=r'b.txt: line 2 is empty'):
        load_classnames(write_lines(tmp_path / 'b.txt', ['x', '', 'y']))
    with pytest.raises(
            ValueError,
            match=r"c.txt: duplicate class name 'x' "
            r'on lines 1 and 3'):
        load_classnames(write_lines(tmp_path / 'c.txt', ['x', 'y', 'x']))
    with pytest.raises(ValueError, match=r'd.txt: file is empty'):
        load_classnames(write_lines(tmp_path / 'd.txt', []))
    with pytest.raises(FileNotFoundError, match=r'e.txt: file not found'):
        load_classnames(str(tmp_path / 'e.txt'))
    with pytest.raises(ValueError, match=r"duplicate wnid 'n01'"):
        load_wnid_names(write_lines(tmp_path / 'f.txt', ['n01 a', 'n01 b']))


# ------------------------------------------------------- ClassFolderDataset
def test_folder_mode(class_folders, tmp_path):
    ds = ClassFolderDataset(class_folders)
    assert ds.metainfo['classes'] == ('hot dog', 'tabby cat')
    assert len(ds) == 7
    assert [ds.get_data_info(i)['gt_label']
            for i in range(7)] == [0] * 3 + [1] * 4
    names = write_lines(tmp_path / 'names.txt', ['frankfurter', 'cat'])
    ds = ClassFolderDataset(
        class_folders, classnames_file=names, num_shots=2, seed=3)
    assert ds.metainfo['classes'] == ('frankfurter', 'cat')
    assert len(ds) == 4
    # The default cache lives in <data_root>/split_fewshot and is not
    # mistaken for a class folder when the dataset is built again.
    assert osp.isfile(
        osp.join(class_folders, 'split_fewshot', 'shot_2-seed_3.json'))
    again = ClassFolderDataset(class_folders, num_shots=2, seed=3)
    assert again.metainfo['classes'] == ('hot dog', 'tabby cat')
    assert [again.get_data_info(i)
            for i in range(4)] == [ds.get_data_info(i) for i in range(4)]


def test_ann_file_mode(class_folders, tmp_path):
    ann = write_lines(tmp_path / 'val.txt',
                      ['tabby_cat/img_0.png 1', 'hot_dog/img_2.jpg 0'])
    names = write_lines(tmp_path / 'names.txt', ['hot_dog', 'tabby cat'])
    ds = ClassFolderDataset(class_folders, ann_file=ann, classnames_file=names)
    assert ds.metainfo['classes'] == ('hot dog', 'tabby cat')
    assert [ds.get_data_info(i)['gt_label'] for i in range(2)] == [1, 0]
    assert ds.get_data_info(0)['img_path'] == osp.join(class_folders,
                                                       'tabby_cat',
                                                       'img_0.png')


def test_folder_errors(class_folders, tmp_path):
    with pytest.raises(
            FileNotFoundError, match='missing_root: directory '
            'not found'):
        ClassFolderDataset(str(tmp_path / 'missing_root'))
    blank = write_lines(tmp_path / 'blank.txt', ['a', '', 'b'])
    with pytest.raises(ValueError, match='blank.txt: line 2 is empty'):
        ClassFolderDataset(class_folders, classnames_file=blank)
    dup = write_lines(tmp_path / 'dup.txt', ['cat', 'cat'])
    with pytest.raises(
            ValueError,
            match="dup.txt: duplicate class name "
            "'cat' on lines 1 and 2"):
        ClassFolderDataset(class_folders, classnames_file=dup)
    with pytest.raises(FileNotFoundError, match='gone.txt: file not found'):
        ClassFolderDataset(class_folders, classnames_file='gone.txt')
    three = write_lines(tmp_path / 'three.txt', ['a', 'b', 'c'])
    with pytest.raises(
            ValueError,
            match='three.txt: has 3 names but the '
            'dataset has 2 classes'):
        ClassFolderDataset(class_folders, classnames_file=three)
    two = write_lines(tmp_path / 'two.txt', ['a', 'b'])
    bad = write_lines(tmp_path / 'bad.txt',
                      ['hot_dog/img_0.jpg 0', 'tabby_cat/img_0.png 2'])
    with pytest.raises(
            ValueError,
            match='bad.txt: line 2 has label 2 out of '
            r'range \[0, 2\)'):
        ClassFolderDataset(class_folders, ann_file=bad, classnames_file=two)
    with pytest.raises(ValueError, match='needs classnames_file'):
        ClassFolderDataset(class_folders, ann_file=bad)
    wrong = write_lines(tmp_path / 'wrong.txt', ['nowhere/x.jpg 0'])
    with pytest.raises(FileNotFoundError, match='nowhere/x.jpg not found'):
        ClassFolderDataset(class_folders, ann_file=wrong, classnames_file=two)
    os.makedirs(osp.join(class_folders, 'empty_class'))
    with pytest.raises(ValueError, match='empty_class has no images'):
        ClassFolderDataset(class_folders)


# ----------------------------------------------------------------- embedded
TINY = dict(num_classes=4, train_per_class=2, val_per_class=1)


def test_embedded_generate_once(tmp_path):
    root = str(tmp_path / 'pomp_default')
    info = generate_embedded_dataset(root, **TINY)
    assert info['generated'] and info['num_train'] == 8
    folders = sorted(os.listdir(osp.join(root, 'train')))
    assert len(folders) == 4 and sorted(os.listdir(osp.join(root, 'val'))) \
        == folders
    assert all(
        len(os.listdir(osp.join(root, 'train', f))) == 2 for f in folders)
    assert all(len(os.listdir(osp.join(root, 'val', f))) == 1 for f in folders)
    names = load_classnames(osp.join(root, 'classnames.txt'))
    assert names == [clean_classname(f) for f in folders] == info['classes']
    assert all(len(n.split()) == 2 for n in names)  # "<colour> <shape>"
    assert len({n.split()[0] for n in names}) == 4  # diverse subset
    assert [p for p in os.listdir(tmp_path)] == ['pomp_default']  # no temp
    marker = osp.join(root, '.complete')
    mtime = os.stat(marker).st_mtime_ns
    again = generate_embedded_dataset(root, **TINY)
    assert not again['generated'] and os.stat(marker).st_mtime_ns == mtime
    # Other parameters replace the stale copy.
    assert generate_embedded_dataset(root, **dict(TINY,
                                                  num_classes=2))['generated']
    assert len(os.listdir(osp.join(root, 'train'))) == 2
    assert sorted(os.listdir(tmp_path)) == ['pomp_default']


def test_embedded_dataset_build(tmp_path):
    root = str(tmp_path / 'emb')
    ds = DATASETS.build(
        dict(
            type='EmbeddedDataset',
            data_root=root,
            split='train',
            generate_cfg=TINY,
            pipeline=[dict(type='LoadImageFromFile')]))
    assert len(ds) == 8 and len(ds.metainfo['classes']) == 4
    assert ds[0]['img'].shape == (64, 64, 3)
    mtime = os.stat(osp.join(root, '.complete')).st_mtime_ns
    val = DATASETS.build(
        dict(type='EmbeddedDataset', data_root=root, split='val'))
    assert len(val) == 4
    assert val.metainfo['classes'] == ds.metainfo['classes']
    assert os.stat(osp.join(root, '.complete')).st_mtime_ns == mtime


def test_embedded_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.*--out'):
        DATASETS.build(
            dict(
                type='EmbeddedDataset',
                data_root=str(tmp_path / 'absent'),
                generate=False))
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='other: folder exists'):
        generate_embedded_dataset(str(other), **TINY)
    assert os.listdir(other) == ['keep.txt']
    with pytest.raises(ValueError, match='num_classes'):
        generate_embedded_dataset(str(tmp_path / 'x'), num_classes=49)


def test_embedded_cli(tmp_path, capsys):
    from pomp_mm.cls.datasets.embedded import main
    out = str(tmp_path / 'cli')
    main([
        '--out', out, '--num-classes', '2', '--train-per-class', '1',
        '--val-per-class', '1', '--image-size', '32'
    ])
    assert 'generated: 2 classes' in capsys.readouterr().out
    assert Image.open(
        osp.join(out, 'val',
                 os.listdir(osp.join(out, 'val'))[0],
                 '00000.png')).size == (32, 32)


def test_embedded_distributed_ranks(tmp_path, monkeypatch):
    emb = pds.embedded
    calls = []
    monkeypatch.setattr(emb, 'is_distributed', lambda: True)
    monkeypatch.setattr(emb, 'barrier', lambda: calls.append('barrier'))
    root = str(tmp_path / 'dist')
    # A non-zero local rank only waits; with nothing generated it raises.
    monkeypatch.setattr(emb, 'get_local_rank', lambda: 1)
    with pytest.raises(FileNotFoundError, match='missing after generation'):
        emb.ensure_embedded_dataset(root, TINY)
    assert calls == ['barrier'] and not osp.exists(root)
    # Local rank 0 generates, then meets the others at the barrier.
    monkeypatch.setattr(emb, 'get_local_rank', lambda: 0)
    emb.ensure_embedded_dataset(root, TINY)
    assert calls == ['barrier'] * 2 and emb.is_complete(root)


# ------------------------------------------------ image check: once per file
LOAD = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def count_pil_opens(monkeypatch, log=None):
    """Patch ``PIL.Image.open`` to count the files it opens (appended to
    ``log`` too, one line each, when given: seen from worker processes)."""
    opened = []
    real = Image.open

    def counting(fp, *args, **kwargs):
        if isinstance(fp, (str, os.PathLike)):
            opened.append(str(fp))
            if log is not None:
                with open(log, 'a') as f:
                    f.write(f'{fp}\n')
        return real(fp, *args, **kwargs)
    monkeypatch.setattr(Image, 'open', counting)
    return opened


def test_image_check_opens_each_file_once_over_two_epochs(class_folders,
                                                         monkeypatch):
    ds = ClassFolderDataset(class_folders, pipeline=LOAD)
    paths = sorted(ds.get_data_info(i)['img_path'] for i in range(len(ds)))
    opened = count_pil_opens(monkeypatch)
    for _ in range(2):  # two epochs
        for i in range(len(ds)):
            assert ds[i]['inputs'].shape == (3, 4, 4)
    assert sorted(opened) == paths  # one header read per file, not per read


def test_image_check_once_across_dataloader_workers(class_folders,
                                                    monkeypatch, tmp_path):
    """Non-persistent workers (new processes every epoch) share the checked
    flags: still one PIL open per file over two epochs."""
    log = tmp_path / 'opened.txt'
    ds = ClassFolderDataset(class_folders, pipeline=LOAD)
    count_pil_opens(monkeypatch, str(log))
    loader = torch.utils.data.DataLoader(
        ds, batch_size=2, num_workers=2, shuffle=True,
        collate_fn=lambda batch: batch,
        multiprocessing_context='fork')
    seen = []
    for _ in range(2):
        seen += [int(s['data_samples'].gt_label) for b in loader for s in b]
    assert sorted(seen) == sorted(2 * [ds.get_data_info(i)['gt_label']
                                       for i in range(len(ds))])
    opened = log.read_text().splitlines()
    assert sorted(opened) == sorted(ds.get_data_info(i)['img_path']
                                    for i in range(len(ds)))


def test_image_changed_after_its_check_gives_the_one_line_error(
        class_folders):
    ds = ClassFolderDataset(class_folders, pipeline=LOAD)
    ds[0]  # checked and loaded
    path = ds.get_data_info(0)['img_path']
    with open(path, 'wb') as f:
        f.write(b'not an image')
    with pytest.raises(ValueError) as info:
        ds[0]
    assert str(info.value) == (
        f'image {path} cannot be read (cannot identify image file '
        f"{path!r}); expected a JPG/JPEG/PNG/BMP/WEBP image")


def test_image_checks_follow_a_subset(class_folders, monkeypatch):
    ds = ClassFolderDataset(class_folders, pipeline=LOAD)
    for i in range(len(ds)):
        ds[i]
    sub = ds.get_subset([3, 0])  # a copy: its own flags, by its own index
    opened = count_pil_opens(monkeypatch)
    sub[0], sub[1], sub[0]
    assert opened == [ds.get_data_info(3)['img_path'],
                      ds.get_data_info(0)['img_path']]
    assert bool(ds._image_checked_flags().all())  # the parent keeps its own
