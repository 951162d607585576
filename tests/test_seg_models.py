"""PompTextEncoder, dense CLIP features and the PompMaskCLIP segmentor."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from pomp_mm.core import PompPromptLearner
from pomp_mm.core.checkpoint import save_prompt
from pomp_mm.core.prompt import load_prompt_into
from pomp_mm.seg import PompTextEncoder, clip_dense_features

pytestmark = pytest.mark.usefixtures('mmseg_scope')

NAMES = ['cat', 'dog', 'grass', 'sky']



def _encoder(clip, freeze=True, **kwargs):
    learner = dict(type='PompPromptLearner', clip=clip, n_ctx=4,
                   freeze=freeze)
    kwargs.setdefault('vocabulary', NAMES)
    return MODELS.build(dict(type='PompTextEncoder', prompt_learner=learner,
                             **kwargs))


def test_text_encoder_matches_hand_prompts(tiny_clip):
    """(N+1, C) = scale * normalize(cat[class feats, bg]) like mmseg's."""
    learner = PompPromptLearner(tiny_clip, NAMES, ctx_init='a photo of a',
                                freeze=True)
    enc = PompTextEncoder(learner)
    out = enc()
    tokens = tiny_clip.tokenizer([f'a photo of a {n}.' for n in NAMES])
    ref = F.normalize(tiny_clip.encode_text(tokens), dim=-1)
    ref = F.normalize(torch.cat([ref, enc.bg_embed.detach()]), dim=-1)
    assert out.shape == (len(NAMES) + 1, tiny_clip.embed_dim)
    torch.testing.assert_close(out, tiny_clip.logit_scale * ref, atol=1e-5,
                               rtol=1e-5)
    assert _encoder(tiny_clip, cat_bg=False)().shape == (len(NAMES), 32)


def test_text_encoder_vocabulary_sources_and_errors(tiny_clip):
    enc = _encoder(tiny_clip, vocabulary=None, dataset_name='voc')
    assert enc.class_names[0] == 'aeroplane' and enc.num_classes == 20
    with pytest.raises(ValueError, match='both set'):
        _encoder(tiny_clip, dataset_name='voc')
    with pytest.raises(ValueError, match="dataset_name='nope'"):
        _encoder(tiny_clip, vocabulary=None, dataset_name='nope')
    with pytest.raises(RuntimeError, match='no vocabulary'):
        _encoder(tiny_clip, vocabulary=None)()


def test_text_encoder_cache(tiny_clip):
    enc = _encoder(tiny_clip)
    first = enc.class_features()
    assert enc.class_features() is first  # cached, not recomputed
    with torch.no_grad():
        enc.prompt_learner.ctx.add_(0.5)  # in-place prompt update
    second = enc.class_features()
    assert second is not first and not torch.allclose(first, second)
    enc.set_vocabulary(['tree', 'road'])
    assert enc.class_features().shape == (2, 32)
    # a trainable prompt gives features with grad (no cache)
    live = _encoder(tiny_clip, freeze=False)
    live().sum().backward()
    assert live.prompt_learner.ctx.grad is not None
    assert live.bg_embed.grad is not None


@MODELS.register_module(force=True)
class _ToyImageEncoder(nn.Module):
    """A stand-in for SAN's CLIP image side: one conv to the embed dim."""

    def __init__(self, dims: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, dims, 4, stride=4)

    def forward(self, x):
        return [self.conv(x)]


@MODELS.register_module(force=True)
class _ToyTextHead(BaseDecodeHead):
    """Classifies pixel embeddings with the (N+1, C) text embeddings."""

    def __init__(self, **kwargs):
        super().__init__(in_channels=32, channels=32, **kwargs)

    def forward(self, inputs):
        _, feats, class_embeds = inputs
        feats = F.normalize(feats[0], dim=1)
        logits = torch.einsum('bchw,nc->bnhw', feats, class_embeds)
        return logits[:, :self.num_classes]


def test_drop_in_for_multimodal_encoder_decoder(tiny_clip):
    """SAN-like toy set-up, as mmseg's test_multimodal_encoder_decoder."""
    learner = dict(type='PompPromptLearner', clip=tiny_clip, n_ctx=4)
    model = MODELS.build(dict(
        type='MultimodalEncoderDecoder', asymetric_input=False,
        data_preprocessor=dict(type='mmseg.SegDataPreProcessor'),
        image_encoder=dict(type='_ToyImageEncoder'),
        text_encoder=dict(type='PompTextEncoder', prompt_learner=learner,
                          vocabulary=NAMES),
        decode_head=dict(type='_ToyTextHead', num_classes=len(NAMES)),
        test_cfg=ConfigDict(mode='whole')))
    samples = []
    for i in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(16, 16),
                                        ori_shape=(16, 16),
                                        pad_shape=(16, 16)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 16, 16)))
        samples.append(s)
    images = torch.randn(2, 3, 16, 16)
    losses = model.loss(images, samples)
    losses['decode.loss_ce'].backward()
    ctx = model.text_encoder.prompt_learner.ctx
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    preds = model.predict(images, samples)
    assert preds[0].pred_sem_seg.data.shape == (1, 16, 16)
    # a prompt file loads into the text encoder's learner (tools/test.py)
    assert load_prompt_into(model, _prompt_file(tiny_clip)) == 1


def _prompt_file(clip, path=None):
    import tempfile
    path = path or tempfile.mktemp(suffix='.pth')
    save_prompt(path, torch.ones(4, clip.text_width), epoch=1, meta={})
    return path


def _open_clip_tokens(visual, images):
    visual.output_tokens = True
    try:
        _, tokens = visual(images)
    finally:
        visual.output_tokens = False
    return tokens @ visual.proj


def test_dense_features_against_open_clip(tiny_clip):
    visual = tiny_clip.model.visual
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = clip_dense_features(visual, images, mode='plain')
        ref = _open_clip_tokens(visual, images)  # (B, HW, D)
        assert plain.shape == (2, 32, 2, 2)
        torch.testing.assert_close(plain.flatten(2).transpose(1, 2), ref)
        # value trick == last block when each token attends to itself only
        dense = clip_dense_features(visual, images, mode='value')
        x = visual._embeds(images)
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
        eye = torch.full((5, 5), float('-inf')).fill_diagonal_(0)
        x = visual.transformer.resblocks[-1](x, attn_mask=eye)
        ref = visual.ln_post(x[:, 1:]) @ visual.proj
        torch.testing.assert_close(dense.flatten(2).transpose(1, 2), ref,
                                   atol=1e-5, rtol=1e-5)
        # 'cls' == the class token's output when it attends to patch j only
        cls_dense = clip_dense_features(visual, images, mode='cls')
        x = visual._embeds(images)
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
        for j in range(4):
            mask = torch.zeros(5, 5)
            mask[0] = float('-inf')
            mask[0, 1 + j] = 0
            out = visual.transformer.resblocks[-1](x, attn_mask=mask)
            ref = visual.ln_post(out[:, 0]) @ visual.proj
            torch.testing.assert_close(cls_dense.flatten(2)[:, :, j], ref,
                                       atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="dense mode 'x'"):
            clip_dense_features(visual, images, mode='x')
        # other resolutions: positional embeddings are interpolated
        assert clip_dense_features(visual, torch.randn(1, 3, 48, 64)).shape \
            == (1, 32, 3, 4)


def _maskclip(clip, **kwargs):
    return MODELS.build(dict(
        type='PompMaskCLIP',
        text_encoder=dict(type='PompTextEncoder', cat_bg=False,
                          prompt_learner=dict(type='PompPromptLearner',
                                              clip=clip, n_ctx=4)),
        **kwargs))


def test_maskclip_predict(tiny_clip):
    model = _maskclip(tiny_clip, test_vocabulary=NAMES)
    images = torch.randn(1, 3, 48, 64)
    meta = dict(img_shape=(48, 64), ori_shape=(24, 32), pad_shape=(48, 64))
    logits = model._forward(images, [SegDataSample(metainfo=meta)])
    # independent: cos(dense, text) * scale, bilinear to the input size
    with torch.no_grad():
        dense = F.normalize(clip_dense_features(tiny_clip.model.visual,
                                                images), dim=1)
        text = model.text_encoder.prompt_learner.encode_vocabulary()
    ref = tiny_clip.logit_scale * torch.einsum('bdhw,nd->bnhw', dense, text)
    ref = F.interpolate(ref, size=(48, 64), mode='bilinear',
                        align_corners=False)
    torch.testing.assert_close(logits, ref, atol=1e-4, rtol=1e-4)
    pred = model.predict(images, [SegDataSample(metainfo=meta)])[0]
    small = F.interpolate(ref, size=(24, 32), mode='bilinear',
                          align_corners=False).argmax(1)
    assert pred.pred_sem_seg.data.shape == (1, 24, 32)
    assert torch.equal(pred.pred_sem_seg.data, small)
    # slide inference with crops covering the image twice gives the same
    # argmax up to crop-border effects; its logits have the same shape
    model.test_cfg = ConfigDict(mode='slide', crop_size=(32, 32),
                                stride=(16, 16))
    slid = model.predict(images, [SegDataSample(metainfo=dict(meta))])[0]
    assert slid.seg_logits.data.shape == (4, 24, 32)


def test_maskclip_region_loss_trains_prompt(tiny_clip):
    model = _maskclip(tiny_clip, train_vocabulary=['cat', 'dog', 'sky'],
                      region_cfg=dict(min_area=4))
    gt = torch.full((1, 32, 32), 255)
    gt[0, :20, :] = 2      # sky: 640 px
    gt[0, 22:30, 4:12] = 0  # cat: 64 px
    gt[0, 31, 31] = 1      # dog: 1 px, below min_area
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=gt)
    images = torch.randn(1, 3, 32, 32)
    regions, labels = model.extract_regions(images, [sample])
    assert labels.tolist() == [2, 0]  # largest first, tiny region dropped
    assert regions.shape == (2, 3, 32, 32)
    # the cat box is exactly its mask: the crop is the image, resized
    ref = F.interpolate(images[:, :, 22:30, 4:12], size=(32, 32),
                        mode='bilinear', align_corners=False)
    torch.testing.assert_close(regions[1:], ref)
    ctx = model.text_encoder.prompt_learner.ctx
    optim = torch.optim.SGD([ctx], lr=0.002)
    losses = []
    for _ in range(3):
        optim.zero_grad()
        loss = model.loss(images, [sample])['loss_region']
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses == sorted(losses, reverse=True) and losses[2] < losses[0]
    with pytest.raises(ValueError, match='out of range'):
        gt[0, 0, 0:8] = 7
        model.loss(images, [sample])


def test_maskclip_needs_vocabulary_and_vit(tiny_clip):
    model = _maskclip(tiny_clip)
    with pytest.raises(RuntimeError, match='VocabularyHook'):
        model._forward(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match='ViT image tower'):
        _maskclip(dict(type='FrozenCLIP', model_name='pomp-test-vit',
                       text_only=True))


def test_text_encoder_skips_san_pretrained_part(tiny_clip):
    enc = _encoder(tiny_clip)
    enc.init_cfg = dict(type='Pretrained_Part', checkpoint='nowhere.pth')
    before = enc.bg_embed.detach().clone()
    enc.init_weights()  # no file read, no error
    assert torch.equal(enc.bg_embed, before)


def test_seg_configs_parse():
    import glob
    import os.path as osp

    from mmengine.config import Config
    root = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'configs', 'seg')
    files = sorted(glob.glob(osp.join(root, '*.py')))
    assert len(files) == 7
    for path in files:
        cfg = Config.fromfile(path)
        assert cfg.default_scope == 'mmseg', path
        assert 'pomp_mm.seg' in cfg.custom_imports['imports'], path
        encoder = cfg.model.decode_head.text_encoder \
            if cfg.model.type == 'PompZSSeg' else cfg.model.text_encoder
        assert encoder.type == 'PompTextEncoder', path
        assert encoder.prompt_learner.prompt_checkpoint, path
    stage2 = Config.fromfile(osp.join(root, 'zsseg_pomp_r101c_voc-15-5.py'))
    head = stage2.model.decode_head
    assert len(head.text_encoder.vocabulary) == 15
    assert head.clip_ensemble_lambda == 0.7 and head.text_encoder.cat_bg
    voc = Config.fromfile(osp.join(root, 'pomp_maskclip_vit-b16_voc-15-5.py'))
    assert len(voc.train_dataloader.dataset.metainfo['classes']) == 15
    assert len(voc.test_dataloader.dataset.metainfo['classes']) == 20
    assert voc.test_evaluator.type == 'HIoUMetric'


def test_real_san_config_runs_with_pomp_text_encoder():
    """mmseg's SAN config, inherited, predicts with PompTextEncoder."""
    import os.path as osp

    from mmengine.config import Config
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'configs', 'seg',
                    'san-vit-b16_pomp_coco-stuff164k-640x640.py')
    cfg = Config.fromfile(path)
    learner = cfg.model.text_encoder.prompt_learner
    learner.clip.checkpoint = None  # random ViT-B/16 text tower
    learner.prompt_checkpoint = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model).eval()
    assert model.text_encoder().shape == (172, 512)  # 171 classes + bg
    meta = dict(img_shape=(160, 160), ori_shape=(160, 160),
                pad_shape=(160, 160))
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 160, 160),
                            [SegDataSample(metainfo=meta)])[0]
    assert out.seg_logits.data.shape == (171, 160, 160)


def test_text_encoder_progress_once_per_vocabulary(tiny_clip, monkeypatch):
    """A vocabulary of several text batches shows a progress bar when it is
    encoded, and not again while it is cached."""
    import pomp_mm.core.prompt as prompt_module
    bars = []

    class Bar(prompt_module.ProgressBar):
        def __init__(self, task_num, *args, **kwargs):
            bars.append(task_num)
            super().__init__(task_num, *args, **kwargs)

    monkeypatch.setattr(prompt_module, 'ProgressBar', Bar)
    learner = PompPromptLearner(tiny_clip, NAMES, ctx_init='a photo of a',
                                freeze=True)
    enc = PompTextEncoder(learner, text_batch_size=1)
    with torch.no_grad():
        first = enc()
        assert bars == [len(NAMES)]  # one bar over the 4 batches
        torch.testing.assert_close(enc(), first)
        assert bars == [len(NAMES)]  # cached: no second bar
        PompTextEncoder(learner, text_batch_size=1, cache_feature=False)()
    assert bars == [len(NAMES)]  # recomputed every forward: no bar
