# Copyright (c) pomp_mm contributors. All rights reserved.
"""Image-labelled detection data (Detic's ImageNet-LVIS) and LVIS helpers.

The mini-world's detection scenes (``MiniWorldCocoDataset``) are a benchmark
dataset: :mod:`pomp_mm.benchmarks.miniworld.det`.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet.datasets import CocoDataset, LVISV1Dataset
from mmdet.registry import DATASETS

from pomp_mm.core.checkpoint import atomic_write_text
from .zero_shot_classifier import CLASSNAMES_DIR, resolve_vocabulary


def __getattr__(name: str):
    """``MiniWorldCocoDataset`` moved to
    :mod:`pomp_mm.benchmarks.miniworld.det`; kept for this release
    (imported only when asked for, so importing the task does not import
    the benchmark)."""
    if name == 'MiniWorldCocoDataset':
        from pomp_mm.benchmarks.miniworld.det import MiniWorldCocoDataset
        return MiniWorldCocoDataset
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


@DATASETS.register_module()
class ImageLabelDataset(CocoDataset):
    """Images with image-level labels only, for Detic's max-size loss.

    The annotation file is COCO-style json whose ``images`` carry
    ``pos_category_ids`` (Detic's ``imagenet_lvis_image_info.json``
    format); ``annotations`` may be empty or absent. Each image's labels,
    mapped to this dataset's class indices, go into ``image_labels`` (add
    it to ``PackDetInputs.meta_keys``); it has no box annotations. Images
    without a known label are dropped in training. Its classes default to
    LVIS v1's (set ``metainfo=dict(classes=...)`` for another vocabulary);
    categories are matched by name.

    With ``with_captions``, each image's ``captions`` (Detic's caption-tag
    file, ``captions_train2017_tags_allcaps.json``, holds them beside the
    tags) go into ``captions`` for the caption loss (add it to
    ``PackDetInputs.meta_keys``), and an image without a known label is
    kept for its captions, as Detic keeps every COCO caption image.

    Args:
        *args: ``CocoDataset`` arguments.
        with_captions (bool): Read ``captions`` too. Defaults to False.
        **kwargs: ``CocoDataset`` keyword arguments.
    """

    METAINFO = dict(classes=LVISV1Dataset.METAINFO['classes'],
                    palette=LVISV1Dataset.METAINFO['palette'])

    def __init__(self, *args, with_captions: bool = False, **kwargs):
        self.with_captions = with_captions
        super().__init__(*args, **kwargs)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Image info plus ``image_labels`` (and ``captions``); no
        instances."""
        info = super().parse_data_info(raw_data_info)
        raw = raw_data_info['raw_img_info']
        if 'pos_category_ids' not in raw:
            raise ValueError(
                f'ann_file {self.ann_file}: image id {raw["img_id"]} has no '
                '"pos_category_ids" (expected image-level labels)')
        if self.with_captions:
            caps = raw.get('captions')
            if not isinstance(caps, list) or not caps or not all(
                    isinstance(c, str) for c in caps):
                raise ValueError(
                    f'ann_file {self.ann_file}: image id {raw["img_id"]} has '
                    f'captions={caps!r}; with_captions=True expects a '
                    'non-empty list of strings (Detic\'s '
                    'captions_train2017_tags_allcaps.json)')
            info['captions'] = list(caps)
        info['image_labels'] = sorted({
            self.cat2label[c] for c in raw['pos_category_ids']
            if c in self.cat2label})
        info['instances'] = []
        return info

    def filter_data(self) -> List[dict]:
        """Keep (in training) the images with labels (with
        ``with_captions``: every image) and ``min_size``."""
        if self.test_mode:
            return self.data_list
        min_size = (self.filter_cfg or {}).get('min_size', 0)
        return [d for d in self.data_list
                if (d['image_labels'] or self.with_captions)
                and min(d['width'], d['height']) >= min_size]


def remove_rare(in_json: str, out_json: str,
                frequencies: Sequence[str] = ('r', )) -> int:
    """Write an LVIS annotation file without the rare classes' boxes.

    Detic's ``remove_lvis_rare.py``: annotations of categories whose
    ``frequency`` is in ``frequencies`` are dropped; categories and images
    are kept, so the class indices stay those of LVIS v1.

    Args:
        in_json (str): e.g. ``lvis_v1_train.json``.
        out_json (str): e.g. ``lvis_v1_train_norare.json``.
        frequencies (Sequence[str]): Frequency groups to drop.
            Defaults to ``('r',)``.

    Returns:
        int: Number of annotations removed.
    """
    with open(in_json, encoding='utf-8') as f:
        data = json.load(f)
    cats = data.get('categories', [])
    if not cats or any('frequency' not in c for c in cats):
        raise ValueError(f'{in_json}: expected LVIS categories with a '
                         '"frequency" field')
    drop = {c['id'] for c in cats if c['frequency'] in frequencies}
    before = len(data['annotations'])
    data['annotations'] = [a for a in data['annotations']
                           if a['category_id'] not in drop]
    atomic_write_text(out_json, json.dumps(data))
    return before - len(data['annotations'])


def open_vocabulary_split(in_json: str, out_json: str,
                          categories: Sequence[str],
                          box_classes: Sequence[str]) -> int:
    """Write a COCO json with only some categories, and boxes of fewer.

    The open-vocabulary COCO training file, as Detic's
    ``instances_train2017_seen_2_oriorder.json``: the 65 categories of the
    OV-COCO split keep their COCO ids (the other 15 and their boxes go),
    and only the 48 base classes keep their boxes; images are all kept.
    A detector trained on it with the 65 names as its vocabulary sees no
    novel box; with :func:`write_cat_info` of the output as the federated
    loss's ``cat_freq_path`` (novel image counts 0), box images never train
    the novel columns, as Detic's ``IGNORE_ZERO_CATS``.

    Args:
        in_json (str): e.g. ``instances_train2017.json``.
        out_json (str): The file written (atomically).
        categories (Sequence[str]): Category names kept.
        box_classes (Sequence[str]): Names whose boxes are kept (a subset
            of ``categories``).

    Returns:
        int: Number of annotations removed.
    """
    with open(in_json, encoding='utf-8') as f:
        data = json.load(f)
    cats = data.get('categories')
    if not isinstance(cats, list) or not cats or 'annotations' not in data:
        raise ValueError(f'{in_json}: expected "categories" and '
                         '"annotations" (a COCO annotation file)')
    names = {c['name'] for c in cats}
    for what, wanted in (('categories', categories),
                         ('box_classes', box_classes)):
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ValueError(f'{in_json}: {what} name {unknown[0]!r} is not '
                             'one of its categories')
    kept, box_names = set(categories), set(box_classes)
    outside = [n for n in box_classes if n not in kept]
    if outside:
        raise ValueError(f'box class {outside[0]!r} is not one of the kept '
                         'categories')
    boxes = {c['id'] for c in cats if c['name'] in box_names}
    before = len(data['annotations'])
    data['categories'] = [c for c in cats if c['name'] in kept]
    data['annotations'] = [a for a in data['annotations']
                           if a['category_id'] in boxes]
    atomic_write_text(out_json, json.dumps(data))
    return before - len(data['annotations'])


def cat_info(ann_json: str,
             classes: Optional[Sequence[str]] = None) -> List[dict]:
    """The class frequencies of a box annotation file, Detic's
    ``lvis_v1_train_cat_info.json`` format (``get_lvis_cat_info.py``).

    One entry per category, in ascending ``id`` order: ``{"id", "name",
    "image_count", "instance_count"}``, counted from ``annotations``. With
    ``classes``, only boxes of those category names are counted; the other
    categories stay in the list with counts 0, so
    :class:`~pomp_mm.det.PompSigmoidCELoss`'s federated loss
    (``cat_freq_path``) never draws them as negatives. That is how a
    detector whose vocabulary includes classes without boxes (image labels
    only, e.g. the mini-world's unseen classes) trains their columns only
    from the image labels.

    Args:
        ann_json (str): A COCO / LVIS-style json with ``categories`` and
            ``annotations``.
        classes (Sequence[str], optional): Names whose boxes count.
            Defaults to None (all).

    Returns:
        list[dict]: The entries (see :func:`write_cat_info`).
    """
    with open(ann_json, encoding='utf-8') as f:
        data = json.load(f)
    cats = data.get('categories')
    if not isinstance(cats, list) or not cats:
        raise ValueError(f'{ann_json}: expected "categories" (a COCO / LVIS '
                         'annotation file)')
    names = {c['name'] for c in cats}
    unknown = [n for n in (classes or ()) if n not in names]
    if unknown:
        raise ValueError(f'{ann_json}: class {unknown[0]!r} is not one of '
                         'its categories')
    keep = {c['id'] for c in cats
            if classes is None or c['name'] in set(classes)}
    images = {c['id']: set() for c in cats}
    instances = dict.fromkeys(images, 0)
    for a in data.get('annotations', []):
        if a['category_id'] in keep:
            images[a['category_id']].add(a['image_id'])
            instances[a['category_id']] += 1
    info = [dict(id=c['id'], name=c['name'],
                 image_count=len(images[c['id']]),
                 instance_count=instances[c['id']])
            for c in sorted(cats, key=lambda c: c['id'])]
    return info


def write_cat_info(ann_json: str, out_json: str,
                   classes: Optional[Sequence[str]] = None) -> List[dict]:
    """Write :func:`cat_info` of ``ann_json`` to ``out_json`` (atomically);
    it is a ``cat_freq_path`` for :class:`~pomp_mm.det.PompSigmoidCELoss`.

    Returns:
        list[dict]: The entries written.
    """
    info = cat_info(ann_json, classes)
    atomic_write_text(out_json, json.dumps(info))
    return info


def coco_lvis_synsets() -> Dict[str, str]:
    """COCO class name -> the LVIS v1 synset of the same class (the LVIS
    API's ``coco_to_synset`` mapping; ``classnames/coco_lvis_synsets.tsv``).
    """
    path = osp.join(CLASSNAMES_DIR, 'coco_lvis_synsets.tsv')
    with open(path, encoding='utf-8') as f:
        rows = [line.rstrip('\n').split('\t') for line in f
                if line.strip() and not line.startswith('#')]
    return dict(rows)


def _tag_name(name: str) -> str:
    """A synonym as get_cc_tags.py matches it: ``_`` -> space, any
    ``(...)`` qualifier dropped, lower case."""
    name = name.replace('_', ' ')
    if '(' in name:
        name = name[:name.find('(')]
    return name.lower().strip()


def caption_tags(captions_json: str, categories_json: str, out_json: str,
                 lvis_json: Optional[str] = None,
                 all_captions: bool = True,
                 keep_images: bool = False) -> Tuple[int, Dict[str, int]]:
    """Write Detic's caption-tag file: COCO caption images labelled with
    the classes their captions name (Detic's ``tools/get_cc_tags.py
    --convert_caption``; ``--allcaps`` is ``all_captions``).

    Each image gets ``captions`` (its captions, in file order) and
    ``pos_category_ids``: the categories one of whose names occurs in the
    lower-cased caption text as a whole word between spaces, or at its
    start or end (so ``"cats"`` and ``"cat."`` do not name ``cat``, as in
    Detic). A category's names are its ``synonyms``; a COCO json has none,
    so they are taken from ``lvis_json`` (an LVIS v1 json) through the LVIS
    synset of each COCO class (:func:`coco_lvis_synsets`), which is how
    Detic made ``captions_train2017_tags_allcaps.json``. Without
    ``lvis_json``, each category has only its own name (not Detic's tags).

    Args:
        captions_json (str): ``captions_train2017.json``.
        categories_json (str): A json with the ``categories`` to tag, e.g.
            ``instances_train2017.json``.
        out_json (str): The tag file written (atomically).
        lvis_json (str, optional): ``lvis_v1_val.json`` (or train), for the
            synonyms. Defaults to None.
        all_captions (bool): Match the text of all of an image's captions
            (Detic's ``--allcaps``), else its first caption only. Defaults
            to True.
        keep_images (bool): Keep images that no caption tags. Defaults to
            False. Images without a caption are always left out.

    Returns:
        tuple[int, dict[str, int]]: The number of images written and, per
        category name, the number of images tagged with it.
    """
    with open(captions_json, encoding='utf-8') as f:
        data = json.load(f)
    if not isinstance(data.get('images'), list) or not isinstance(
            data.get('annotations'), list):
        raise ValueError(f'{captions_json}: expected "images" and '
                         '"annotations" (a COCO captions file)')
    with open(categories_json, encoding='utf-8') as f:
        cats = json.load(f).get('categories')
    if not isinstance(cats, list) or not cats:
        raise ValueError(f'{categories_json}: expected "categories"')
    cats = [dict(c) for c in cats]
    if lvis_json is not None and any('synonyms' not in c for c in cats):
        with open(lvis_json, encoding='utf-8') as f:
            synonyms = {c['synset']: c['synonyms']
                        for c in json.load(f).get('categories', [])
                        if 'synset' in c and 'synonyms' in c}
        if not synonyms:
            raise ValueError(f'{lvis_json}: expected LVIS categories with '
                             '"synset" and "synonyms"')
        to_synset = coco_lvis_synsets()
        for c in cats:
            if c['name'] not in to_synset:
                raise ValueError(
                    f'{categories_json}: category {c["name"]!r} is not a '
                    'COCO class (no LVIS synset for its synonyms); give '
                    'categories with "synonyms" instead')
            if to_synset[c['name']] not in synonyms:
                raise ValueError(
                    f'{lvis_json}: no category with synset '
                    f'{to_synset[c["name"]]!r} (for {c["name"]!r})')
            c['synonyms'] = synonyms[to_synset[c['name']]]
    names = {c['id']: [' ' + _tag_name(n) + ' '
                       for n in c.get('synonyms', [c['name']])]
             for c in cats}
    caps: Dict[int, List[str]] = {}
    for a in data['annotations']:
        caps.setdefault(a['image_id'], []).append(a['caption'])
    counts = {c['name']: 0 for c in cats}
    id2name = {c['id']: c['name'] for c in cats}
    images = []
    for img in data['images']:
        captions = caps.get(img['id'], [])
        if not captions:
            continue
        text = (' '.join(captions) if all_captions else captions[0]).lower()
        tags = [cid for cid, words in names.items()
                if any(w in text or text.startswith(w[1:])
                       or text.endswith(w[:-1]) for w in words)]
        for cid in tags:
            counts[id2name[cid]] += 1
        if tags or keep_images:
            images.append(dict(img, captions=captions,
                               pos_category_ids=tags))
    atomic_write_text(out_json, json.dumps(
        dict(images=images, categories=cats, annotations=[])))
    return len(images), counts


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m pomp_mm.det.datasets IN_JSON OUT_JSON [options]``."""
    parser = argparse.ArgumentParser(
        description='Write an open-vocabulary training json: an LVIS json '
        'without its rare-class boxes (OV-LVIS, the default), or with '
        '--categories and --boxes a COCO json with only those categories '
        'and only those classes\' boxes (OV-COCO), or with --caption-tags '
        'Detic\'s caption-tag file of a COCO captions json')
    parser.add_argument(
        'in_json', help='e.g. lvis_v1_train.json (--caption-tags: '
        'captions_train2017.json)')
    parser.add_argument(
        'out_json', help='e.g. lvis_v1_train_norare.json (--caption-tags: '
        'captions_train2017_tags_allcaps.json)')
    parser.add_argument(
        '--categories',
        help='categories kept: a built-in vocabulary (e.g. coco_ov65) or a '
        'file of names')
    parser.add_argument(
        '--boxes',
        help='classes whose boxes are kept (e.g. coco_ov_base48)')
    parser.add_argument(
        '--cat-info', metavar='JSON',
        help='also write the class frequencies of OUT_JSON (a '
        'cat_freq_path)')
    parser.add_argument(
        '--caption-tags', metavar='CATEGORIES_JSON',
        help='tag IN_JSON\'s caption images with the categories of this '
        'json (e.g. instances_train2017.json) that their captions name')
    parser.add_argument(
        '--lvis', metavar='LVIS_JSON',
        help='with --caption-tags: take each COCO class\'s synonyms from '
        'this LVIS v1 json, as Detic does (else its name only)')
    parser.add_argument(
        '--first-caption', action='store_true',
        help='with --caption-tags: match the first caption only (Detic '
        'without --allcaps)')
    parser.add_argument(
        '--keep-images', action='store_true',
        help='with --caption-tags: keep images no caption tags')
    args = parser.parse_args(argv)
    if (args.categories is None) != (args.boxes is None):
        parser.error('--categories and --boxes go together')
    if args.caption_tags is None and (args.lvis or args.first_caption
                                      or args.keep_images):
        parser.error('--lvis, --first-caption and --keep-images go with '
                     '--caption-tags')
    if args.caption_tags is not None:
        if args.categories is not None or args.cat_info:
            parser.error('--caption-tags goes without --categories, --boxes '
                         'and --cat-info')
        n, counts = caption_tags(args.in_json, args.caption_tags,
                                 args.out_json, args.lvis,
                                 not args.first_caption, args.keep_images)
        untagged = [k for k, v in counts.items() if v == 0]
        print(f'{n} caption images written -> {args.out_json}; categories '
              f'never named: {len(untagged)}' +
              (f' ({", ".join(untagged)})' if untagged else ''))
        return
    if args.categories is None:
        n = remove_rare(args.in_json, args.out_json)
        print(f'removed {n} rare-class annotations -> {args.out_json}')
    else:
        n = open_vocabulary_split(args.in_json, args.out_json,
                                  resolve_vocabulary(args.categories),
                                  resolve_vocabulary(args.boxes))
        print(f'removed {n} annotations outside --boxes -> {args.out_json}')
    if args.cat_info:
        write_cat_info(args.out_json, args.cat_info)
        print(f'class frequencies -> {args.cat_info}')


if __name__ == '__main__':
    main()
