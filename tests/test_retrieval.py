"""Zero-shot image-text retrieval: CLIPRetriever, MiniWorldCaptions and the
retrieval config, scored by mmpretrain's RetrievalRecall."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.evaluation import RetrievalRecall
from mmpretrain.structures import DataSample
from pomp_mm.engine import test as engine_test

from pomp_mm.benchmarks.miniworld import (MiniWorldCaptions, class_name,
                                          resolve_classes)
from pomp_mm.cls import CLIPRetriever

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# 4 images x 8 captions; caption j belongs to image j // 2.
S = torch.tensor([
    [0.90, 0.10, 0.20, 0.30, 0.15, 0.05, 0.25, 0.35],
    [0.95, 0.40, 0.90, 0.10, 0.20, 0.30, 0.05, 0.15],
    [0.80, 0.85, 0.70, 0.75, 0.30, 0.60, 0.10, 0.20],
    [0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.20, 0.10],
])
# Ranks worked out by hand from S:
#   image -> text, best true caption: image 0: 1, 1: 2 (0.95 above),
#   2: 5 (0.80 0.85 0.70 0.75 above), 3: 7.
#   text -> image, its image in the column: text 0: 2, 1: 4, 2: 1, 3: 4,
#   4: 2, 5: 2, 6: 2, 7: 4.
I2T = {1: 25.0, 2: 50.0, 4: 50.0}
T2I = {1: 12.5, 2: 62.5, 4: 100.0}


def _items():
    return [DataSample(gt_text_id=[2 * i, 2 * i + 1], gt_image_id=[i, i])
            for i in range(4)]


def _score(samples, size, topk=(1, 2, 4)):
    evaluator = Evaluator(RetrievalRecall(topk=topk))
    evaluator.process(samples, None)
    return evaluator.evaluate(size)


def test_recall_both_directions_on_a_hand_built_similarity(tiny_clip):
    model = CLIPRetriever(tiny_clip)
    # image features = I, caption features = S^T: the scores are exactly S
    feats = {'image_feat': torch.eye(4), 'text_feat': S.t().contiguous()}
    i2t, t2i = model.predict_all(feats, _items(), num_images=4, num_texts=8)
    assert len(i2t) == 4 and len(t2i) == 8
    torch.testing.assert_close(i2t[2].pred_score, S[2])
    torch.testing.assert_close(t2i[5].pred_score, S[:, 5])
    assert i2t[1].gt_label.tolist() == [2, 3]
    assert [int(s.gt_label) for s in t2i] == [0, 0, 1, 1, 2, 2, 3, 3]
    got_i2t = _score(i2t, 4)
    got_t2i = _score(t2i, 8)
    assert got_i2t == {f'retrieval/Recall@{k}': pytest.approx(v)
                       for k, v in I2T.items()}
    assert got_t2i == {f'retrieval/Recall@{k}': pytest.approx(v)
                       for k, v in T2I.items()}


def test_retriever_embeds_every_caption_in_item_order(tiny_clip):
    model = CLIPRetriever(tiny_clip, text_batch_size=3)
    items = [DataSample(text=['a red circle.', 'a blue star.']),
             DataSample(text='a green heart.'),
             DataSample(text=['a pink square.', 'a black cross.',
                              'a gray arrow.'])]
    images = torch.randn(3, 3, 32, 32)
    feats = model(images, items, mode='tensor')
    assert feats['image_feat'].shape == (3, 32)
    texts = ['a red circle.', 'a blue star.', 'a green heart.',
             'a pink square.', 'a black cross.', 'a gray arrow.']
    with torch.no_grad():
        ref = tiny_clip.model.encode_text(tiny_clip.tokenizer(texts))
    torch.testing.assert_close(feats['text_feat'],
                               torch.nn.functional.normalize(ref, dim=-1),
                               rtol=1e-5, atol=1e-5)
    assert feats['image_feat'].norm(dim=-1).allclose(torch.ones(3))
    with pytest.raises(RuntimeError, match='nothing to train'):
        model(images, items, mode='loss')
    with pytest.raises(ValueError, match="no \"text\""):
        model(images, [DataSample()], mode='tensor')


def test_miniworld_captions_layout_and_determinism():
    ds = MiniWorldCaptions(split='stars_hearts', subset='seen',
                           captions_per_image=3, max_classes=5,
                           sample_seed=1)
    assert (len(ds), ds.img_size, ds.text_size) == (5, 5, 15)
    classes = resolve_classes('stars_hearts', 'seen')[:5]
    texts = []
    for i in range(5):
        info = ds.get_data_info(i)
        assert info['gt_text_id'] == [3 * i, 3 * i + 1, 3 * i + 2]
        assert info['gt_image_id'] == [i, i, i]
        assert len(info['text']) == 3
        assert all(class_name(classes[i]) in t for t in info['text'])
        texts += info['text']
    assert len(set(texts)) > 5  # the captions of an image differ
    item = ds[0]
    assert item['img'].shape == (64, 64, 3)
    again = MiniWorldCaptions(split='stars_hearts', subset='seen',
                              captions_per_image=3, max_classes=5,
                              sample_seed=1)
    assert np.array_equal(again[0]['img'], item['img'])
    assert again.get_data_info(4)['text'] == ds.get_data_info(4)['text']
    pairs = MiniWorldCaptions(split='stars_hearts', subset='seen',
                              captions_per_image=3, max_classes=5,
                              sample_seed=1, test_mode=False)
    assert len(pairs) == 15 and pairs.get_data_info(4)['image_id'] == 1
    two = MiniWorldCaptions(max_classes=4, objects_per_image=2)
    assert ' and a ' in two.get_data_info(0)['text'][0]
    with pytest.raises(ValueError, match='captions_per_image=0'):
        MiniWorldCaptions(captions_per_image=0)
    with pytest.raises(ValueError, match="split='mnist'"):
        MiniWorldCaptions(split='mnist')


@pytest.mark.slow
def test_retrieval_config_through_test_tool(tmp_path, clip_weights):
    config = osp.join(ROOT, 'configs', 'zoo', 'retrieval', 'miniworld.py')
    out = tmp_path / 'metrics.json'
    metrics = engine_test.main([
        config, '--work-dir', str(tmp_path), '--out', str(out),
        '--cfg-options', 'model.clip.model_name=pomp-test-vit',
        f'model.clip.checkpoint={clip_weights}', 'log_level=WARNING',
        'test_dataloader.dataset.max_classes=12',
        'test_dataloader.dataset.image_size=32',
        'test_dataloader.dataset.captions_per_image=2',
        'test_dataloader.batch_size=5'])
    for direction in ('i2t', 't2i'):
        recalls = [metrics[f'{direction}/retrieval/Recall@{k}']
                   for k in (1, 5, 10)]
        assert 0 <= recalls[0] <= recalls[1] <= recalls[2] <= 100
    assert out.is_file()
