"""pomp_mm.core.vocabulary: the one reader and the one precedence rule,
checked in classification, segmentation and detection."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from pomp_mm.core import VocabularyHook
from pomp_mm.core.vocabulary import (DATASET, EXPLICIT, PhaseVocabularies,
                                     dedup_names, read_vocabulary)

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                   'configs')


# -- the reader ---------------------------------------------------------------
def test_reader_list_file_builtin(tmp_path):
    f = tmp_path / 'c.txt'
    f.write_text('dog\ncat_face\n')
    assert read_vocabulary(str(f)) == ['dog', 'cat_face']
    assert read_vocabulary(('dog', 'cat_face')) == ['dog', 'cat_face']
    builtins = {'pets': str(f)}
    assert read_vocabulary('pets', builtins=builtins) == ['dog', 'cat_face']
    with pytest.raises(ValueError) as info:
        read_vocabulary('petz', builtins=builtins)
    assert str(info.value) == (
        "vocabulary 'petz': not a file nor a built-in list; expected a "
        "class-name file or one of ('pets',)")
    # without builtins a string is always a path
    with pytest.raises(FileNotFoundError, match='pets'):
        read_vocabulary('pets')


def test_reader_duplicates_only_when_allowed(tmp_path):
    with pytest.raises(ValueError, match=r'entries 0 and 1'):
        read_vocabulary(['red_circle', 'red circle'])
    assert read_vocabulary(['crane', 'crane'], allow_duplicates=True) == [
        'crane', 'crane']
    with pytest.raises(ValueError, match=r"entry 1 \('_'\) is empty"):
        read_vocabulary(['crane', '_'], allow_duplicates=True)
    distinct, index = dedup_names(['crane', 'dog', 'crane'])
    assert distinct == ['crane', 'dog'] and index.tolist() == [0, 1, 0]
    assert dedup_names(['a', 'b']) == (['a', 'b'], None)


def test_old_homes_still_import():
    from pomp_mm.cls.model import dedup_names as cls_dedup
    from pomp_mm.core.classnames import clean_classname, load_classnames
    from pomp_mm.core.prompt import read_vocabulary as prompt_reader
    from pomp_mm.core.vocabulary import clean_classname as one_clean
    assert cls_dedup is dedup_names and prompt_reader is read_vocabulary
    assert clean_classname is one_clean and callable(load_classnames)


# -- the rule -----------------------------------------------------------------
def test_rule_explicit_beats_dataset_and_keys_change():
    v = PhaseVocabularies('M')
    assert v.set(['a', 'b'], 'train', DATASET) == ['a', 'b']
    names, key1 = v.resolve('train')
    assert v.set(['c'], 'train', DATASET) == ['c']  # dataset replaces dataset
    names, key2 = v.resolve('train')
    assert names == ['c'] and key2 != key1
    assert v.set(['x', 'y'], 'train', EXPLICIT) == ['x', 'y']
    assert v.set(['c'], 'train', DATASET) is None  # explicit is kept
    names, key3 = v.resolve('train')
    assert names == ['x', 'y'] and v.source('train') == EXPLICIT
    assert v.resolve('train')[1] == key3  # unchanged choice, same key
    assert v.set(['z'], 'train', EXPLICIT) == ['z']  # explicit replaces


def test_rule_test_falls_back_to_train_never_the_other_way():
    v = PhaseVocabularies('M')
    with pytest.raises(RuntimeError) as info:
        v.resolve('test')
    assert str(info.value) == (
        "M has no test vocabulary: add custom_hooks=[dict(type="
        "'VocabularyHook')] or set test_vocabulary in the model config")
    v.set(['a'], 'test')
    with pytest.raises(RuntimeError, match='no train vocabulary'):
        v.resolve('train')  # never trains on the test classes
    v = PhaseVocabularies('M')
    v.set(['a', 'b'], 'train')
    assert v.resolve('test')[0] == ['a', 'b']
    assert v.resolve('test', required=False)[0] == ['a', 'b']
    assert PhaseVocabularies('M').resolve('test', required=False)[0] is None


def test_rule_builtin_after_the_set_ones():
    v = PhaseVocabularies('M')
    builtin = dict(train=['seen'], test=['all', 'seen'])
    assert v.resolve('train', builtin)[0] == ['seen']
    assert v.resolve('test', builtin)[0] == ['all', 'seen']
    assert v.resolve('test', dict(train=['seen']))[0] == ['seen']
    v.set(['t'], 'train', DATASET)
    assert v.resolve('test', builtin)[0] == ['t']  # step 3 before step 4
    v.set(['u'], 'test', DATASET)
    assert v.resolve('test', builtin)[0] == ['u']
    with pytest.raises(ValueError, match="mode='val'"):
        v.resolve('val')
    with pytest.raises(ValueError, match="source='hook'"):
        v.set(['a'], 'test', 'hook')


# -- the rule in every task, through VocabularyHook ---------------------------
def _runner(model, train=None, test=None):
    def loader(classes):
        return SimpleNamespace(dataset=SimpleNamespace(
            metainfo={'classes': classes}))
    return SimpleNamespace(model=model, train_dataloader=loader(train),
                           val_dataloader=loader(test),
                           test_dataloader=loader(test))


def _check_hook_rule(model, names_in_use, use):
    """Config test vocabulary kept, dataset train vocabulary taken."""
    hook = VocabularyHook()
    runner = _runner(model, train=['dog', 'sky'], test=['tree', 'road'])
    hook.before_train(runner)
    hook.before_test(runner)
    use('train')
    assert names_in_use() == ['dog', 'sky']
    use('test')
    assert names_in_use() == ['cat', 'grass', 'sky']  # the config's


def test_rule_in_classification(tiny_clip):
    from mmpretrain.registry import MODELS
    import pomp_mm.cls  # noqa: F401
    model = MODELS.build(dict(
        type='PromptCLIPClassifier',
        prompt_learner=dict(type='PompPromptLearner', clip=tiny_clip,
                            n_ctx=4),
        loss=dict(type='PompLoss', num_classes_per_step=None),
        test_vocabulary=['cat', 'grass', 'sky']))
    learner = model.prompt_learner
    _check_hook_rule(model, lambda: learner.class_names,
                     model._use_vocabulary)
    # the hot path compares a key, not the names: no re-tokenizing
    version = learner.vocabulary_version
    model._use_vocabulary('test')
    assert learner.vocabulary_version == version
    # a template classifier follows the same rule for its `vocabulary`
    zs = MODELS.build(dict(type='TemplateCLIPClassifier', clip=tiny_clip,
                           vocabulary=['cat', 'grass', 'sky']))
    VocabularyHook().before_test(_runner(zs, test=['tree', 'road']))
    assert zs.class_names == ['cat', 'grass', 'sky']


def test_rule_in_segmentation(tiny_clip, mmseg_scope):
    from mmseg.registry import MODELS
    import pomp_mm.seg  # noqa: F401
    model = MODELS.build(dict(
        type='PompMaskCLIP',
        text_encoder=dict(type='PompTextEncoder', cat_bg=False,
                          prompt_learner=dict(type='PompPromptLearner',
                                              clip=tiny_clip, n_ctx=4)),
        test_vocabulary=['cat', 'grass', 'sky']))
    _check_hook_rule(model, lambda: model.text_encoder.class_names,
                     model._use_vocabulary)


@pytest.fixture
def detector(clip_weights):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    import pomp_mm.det  # noqa: F401
    register_all_modules()
    cfg = Config.fromfile(osp.join(CONFIGS, 'det',
                                   'ov-coco_pomp_faster-rcnn_r50_fpn_1x.py'))
    m = cfg.model
    m.backbone = dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(0, 1, 2, 3), init_cfg=None)
    m.neck = dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=16,
                  num_outs=5)
    m.rpn_head.in_channels = m.rpn_head.feat_channels = 16
    m.roi_head.bbox_roi_extractor.out_channels = 16
    head = m.roi_head.bbox_head
    head.in_channels, head.fc_out_channels, head.num_classes = 16, 32, 2
    head.cls_predictor_cfg.prompt_learner = dict(
        type='PompPromptLearner', n_ctx=4,
        clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                  checkpoint=clip_weights, text_only=True))
    head.cls_predictor_cfg.pop('vocabulary', None)
    m.train_vocabulary = None
    m.test_vocabulary = ['cat', 'grass', 'sky']
    return MODELS.build(m)


def test_rule_in_detection(detector):
    from mmdet.structures import DetDataSample
    _check_hook_rule(detector, lambda: detector.vocabulary,
                     detector._use_vocabulary)
    # an explicit test vocabulary also beats the batch's data_sample.text
    sample = DetDataSample(metainfo=dict(text=('tree', 'road')))
    detector._use_vocabulary('test', [sample])
    assert detector.vocabulary == ['cat', 'grass', 'sky']
    # without it, the batch's classes come before the test set's
    detector.vocabularies = PhaseVocabularies('PompTwoStageDetector')
    VocabularyHook().before_test(_runner(detector, test=['a', 'b']))
    detector._use_vocabulary('test', [sample])
    assert detector.vocabulary == ['tree', 'road']
    detector._use_vocabulary('test', [DetDataSample()])
    assert detector.vocabulary == ['a', 'b']
    with torch.no_grad():
        assert detector.classifiers()[0].class_weight().shape[1] == 3


def test_concatenated_sets_of_different_classes():
    """mmdet's ConcatDataset of sets with different classes (one metainfo
    each, e.g. COCO + Objects365 in one test run): at test every set must
    give its names per image; in training it is an error."""
    def concat(*return_classes):
        parts = [SimpleNamespace(return_classes=r) for r in return_classes]
        return SimpleNamespace(dataset=SimpleNamespace(
            datasets=parts,
            metainfo=[{'classes': ['a']}, {'classes': ['b', 'c']}]))

    model = SimpleNamespace()  # offered nothing: the batches name classes
    VocabularyHook._set(SimpleNamespace(model=model), concat(True, True),
                        'test')
    with pytest.raises(ValueError, match=r"^VocabularyHook: the test dataset "
                       r"SimpleNamespace joins datasets with different "
                       r"classes, and SimpleNamespace do not give their "
                       r"class names with each image \(data_sample.text\): "
                       r"set return_classes=True on each, so that every "
                       r"image is scored with its own set's classes$"):
        VocabularyHook._set(SimpleNamespace(model=model),
                            concat(True, False), 'test')
    with pytest.raises(ValueError, match=r"^VocabularyHook: the train "
                       r"dataset SimpleNamespace joins datasets with "
                       r"different classes \(SimpleNamespace, "
                       r"SimpleNamespace\); one training run has one "
                       r"vocabulary"):
        VocabularyHook._set(SimpleNamespace(model=model),
                            concat(True, True), 'train')
