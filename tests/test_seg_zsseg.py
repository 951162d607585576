"""ZSSeg stage 2: a tiny MaskFormer with the prompt classifier + ensemble."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import pomp_mm.seg  # noqa: F401
from pomp_mm.seg import clip_ensemble
from pomp_mm.seg.zsseg import masked_crops

pytestmark = pytest.mark.usefixtures('mmseg_scope')

SEEN = ['cat', 'dog', 'sky']
ALL = ['cat', 'dog', 'sky', 'grass']



def _model(clip, lam=0.7):
    dims = 32
    layer = dict(embed_dims=dims, num_heads=2, attn_drop=0.0, proj_drop=0.0,
                 dropout_layer=None, batch_first=True)
    head = dict(
        type='PompMaskFormerHead',
        text_encoder=dict(type='PompTextEncoder', vocabulary=SEEN,
                          prompt_learner=dict(type='PompPromptLearner',
                                              clip=clip, n_ctx=4,
                                              freeze=True)),
        clip_ensemble_lambda=lam,
        in_channels=[8, 16, 32, 64], feat_channels=dims, out_channels=dims,
        in_index=[0, 1, 2, 3], num_queries=4,
        pixel_decoder=dict(type='mmdet.PixelDecoder',
                           norm_cfg=dict(type='GN', num_groups=8),
                           act_cfg=dict(type='ReLU')),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=dims // 2, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True, num_layers=1,
            layer_cfg=dict(self_attn_cfg=layer, cross_attn_cfg=layer,
                           ffn_cfg=dict(embed_dims=dims,
                                        feedforward_channels=64, num_fcs=2,
                                        act_cfg=dict(type='ReLU'),
                                        ffn_drop=0.0, dropout_layer=None,
                                        add_identity=True)),
            init_cfg=None),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                      loss_weight=1.0, reduction='mean'),
        loss_mask=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0,
                       alpha=0.25, reduction='mean', loss_weight=20.0),
        loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True,
                       activate=True, reduction='mean', naive_dice=True,
                       eps=1.0, loss_weight=1.0),
        train_cfg=dict(
            assigner=dict(type='mmdet.HungarianAssigner', match_costs=[
                dict(type='mmdet.ClassificationCost', weight=1.0),
                dict(type='mmdet.FocalLossCost', weight=20.0,
                     binary_input=True),
                dict(type='mmdet.DiceCost', weight=1.0, pred_act=True,
                     eps=1.0)]),
            sampler=dict(type='mmdet.MaskPseudoSampler')))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(dict(
            type='PompZSSeg',
            data_preprocessor=dict(type='SegDataPreProcessor'),
            backbone=dict(type='ResNet', depth=18, base_channels=8,
                          stem_channels=8, out_indices=(0, 1, 2, 3)),
            decode_head=ConfigDict(head),
            test_cfg=ConfigDict(mode='whole')))


def _samples(n=2, size=32):
    out = []
    for i in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size),
                                        pad_shape=(size, size)))
        gt = torch.full((1, size, size), 255)
        gt[0, :16] = i
        gt[0, 16:] = 2
        s.gt_sem_seg = PixelData(data=gt)
        out.append(s)
    return out


def test_stage2_trains_no_object_and_projection_not_prompt(tiny_clip):
    model = _model(tiny_clip)
    head = model.decode_head
    assert head.class_weight == [1.0, 1.0, 1.0, 0.1]
    losses = model.loss(torch.randn(2, 3, 32, 32), _samples())
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert head.text_encoder.bg_embed.grad is not None  # no-object row
    assert head.cls_embed.proj.weight.grad is not None
    assert head.text_encoder.prompt_learner.ctx.grad is None  # frozen


def test_stage2_predict_ensembles_with_clip(tiny_clip):
    model = _model(tiny_clip, lam=0.7).eval()
    model.set_vocabulary(ALL, 'test')
    images = torch.randn(1, 3, 32, 32)
    samples = _samples(1)
    pred = model.predict(images, samples)[0]
    assert pred.seg_logits.data.shape == (4, 32, 32)
    head = model.decode_head
    assert head.seen.tolist() == [True, True, True, False]
    # independent recomputation from the head's raw outputs
    with torch.no_grad():
        x = model.extract_feat(images)
        meta = dict(samples[0].metainfo, batch_input_shape=(32, 32))
        cls, masks = head(x, [SegDataSample(metainfo=meta)])
        masks = F.interpolate(masks[-1], size=(32, 32), mode='bilinear',
                              align_corners=False).sigmoid()
        p_mask = cls[-1].softmax(-1)[..., :-1]
        clip = tiny_clip
        text = head.text_encoder.prompt_learner.encode_vocabulary()
        crops, valid = masked_crops(images[0], masks[0] > 0.5,
                                    clip.image_size)
        p_clip = torch.full((4, 4), 0.25)
        if valid.any():
            f = clip.encode_image(crops[valid], normalize=True)
            p_clip[valid] = (clip.logit_scale * f @ text.t()).softmax(-1)
        seen = torch.tensor([True, True, True, False])
        scores = clip_ensemble(p_mask, p_clip[None], seen, 0.7)
        ref = torch.einsum('bqc,bqhw->bchw', scores, masks)[0]
    torch.testing.assert_close(pred.seg_logits.data, ref, atol=1e-5,
                               rtol=1e-4)


def test_masked_crops():
    image = torch.arange(2 * 4 * 4, dtype=torch.float).reshape(2, 4, 4)
    image = torch.cat([image, image[:1]])
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[0, 1:3, 2:4] = True
    crops, valid = masked_crops(image, masks, (2, 2))
    assert valid.tolist() == [True, False]
    torch.testing.assert_close(crops[0], image[:, 1:3, 2:4])
    assert crops[1].abs().sum() == 0
