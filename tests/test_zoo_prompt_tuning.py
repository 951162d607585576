"""Prompt-tuning methods of the zoo: CoCoOp, KgCoOp, MaPLe, VP.

Each method's defining computation is checked against a hand calculation
written here (the 77-token text tower, open_clip's blocks run one by one),
then gradients/frozenness, then every config end to end through
tools/train.py and tools/test.py on a shrunk mini-world.
"""
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import pomp_mm.cls  # noqa: F401  (registers the zoo)
from pomp_mm.core import FrozenCLIP
from pomp_mm.core.checkpoint import save_prompt
from pomp_mm.core.checkpoint import safe_torch_load
from pomp_mm.engine import test as engine_test
from pomp_mm.engine import train as engine_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NAMES = ['red circle', 'blue star', 'green square', 'yellow heart',
         'red star']
LABELS = [0, 2, 4]


@pytest.fixture(scope='module')
def clip2():
    """A random 'pomp-tiny-vit' CLIP: 2 layers in each tower, 64 px."""
    torch.manual_seed(1)
    return FrozenCLIP('pomp-tiny-vit')


def _build(cfg: dict, clip, **kwargs):
    torch.manual_seed(0)
    cfg = dict(cfg, train_vocabulary=NAMES, test_vocabulary=NAMES, **kwargs)
    if 'prompt_learner' in cfg:
        cfg['prompt_learner'] = dict(cfg['prompt_learner'], clip=clip)
    else:
        cfg['clip'] = clip
    return MODELS.build(cfg)


def _batch(clip, n=3):
    torch.manual_seed(2)
    size = clip.image_size
    samples = [DataSample().set_gt_label(y) for y in LABELS[:n]]
    return torch.randn(n, 3, *size), samples, torch.tensor(LABELS[:n])


def _tokens(clip, text: str) -> torch.Tensor:
    """(1, 77) token ids of one text (open_clip's tokenizer)."""
    return clip.tokenizer([text])


def _prompt_features(clip, names, ctx) -> torch.Tensor:
    """Normalised features of ``[SOS][ctx][name][.][EOT]`` on the full
    77-token text tower (CoOp's construction, by hand)."""
    m = ctx.shape[0]
    rows = []
    for name in names:
        ids = _tokens(clip, ' '.join(['X'] * m) + f' {name}.')
        emb = clip.token_embedding(ids)
        emb = torch.cat([emb[:, :1], ctx[None].to(emb), emb[:, 1 + m:]], 1)
        rows.append(clip.encode_embeddings(emb, ids.argmax(-1),
                                           truncate=False))
    return F.normalize(torch.cat(rows), dim=-1)


def _hand_template(clip, names) -> torch.Tensor:
    ids = torch.cat([_tokens(clip, f'a photo of a {n}.') for n in names])
    return F.normalize(clip.encode_text(ids), dim=-1)


def _image_features(clip, images) -> torch.Tensor:
    return F.normalize(clip.encode_image(images), dim=-1)


# -- CoCoOp -------------------------------------------------------------------
COCOOP = dict(type='CoCoOpClassifier',
              prompt_learner=dict(type='PompPromptLearner',
                                  ctx_init='a photo of a'))


def test_cocoop_logits_are_per_image_prompts(tiny_clip):
    model = _build(COCOOP, tiny_clip, text_batch_size=2)  # chunked test
    with torch.no_grad():
        for p in model.meta_net.parameters():  # a shift that matters
            p.normal_(std=0.5)
    images, samples, labels = _batch(tiny_clip)
    hidden = model.meta_net.linear1.out_features
    assert hidden == max(1, tiny_clip.embed_dim // 16)
    x = _image_features(tiny_clip, images)
    w1, b1 = model.meta_net.linear1.weight, model.meta_net.linear1.bias
    w2, b2 = model.meta_net.linear2.weight, model.meta_net.linear2.bias
    ctx = model.prompt_learner.ctx
    want = []
    for i in range(len(images)):  # each image: its own prompts, by hand
        pi = F.relu(x[i] @ w1.t() + b1) @ w2.t() + b2
        text = _prompt_features(tiny_clip, NAMES, ctx + pi)
        want.append(tiny_clip.logit_scale * text @ x[i])
    want = torch.stack(want)
    with torch.no_grad():
        got = model(images, samples, mode='tensor')
        plain = tiny_clip.logit_scale * x @ _prompt_features(
            tiny_clip, NAMES, ctx).t()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (got - plain).abs().max() > 1e-2  # π changed the prompts
    loss = model(images, samples, mode='loss')['loss']
    torch.testing.assert_close(loss, F.cross_entropy(want, labels),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(NotImplementedError,
                       match='each image has its own prompts'):
        model.class_embeddings()


def test_learner_ctx_override_shared_and_per_prompt(tiny_clip):
    """The PompPromptLearner hook CoCoOp uses: ``ctx=`` replaces the
    learned context, shared (fast path) or one per prompt (plain path)."""
    from pomp_mm.core import PompPromptLearner
    learner = PompPromptLearner(tiny_clip, NAMES, n_ctx=4)
    torch.manual_seed(4)
    ctxs = torch.randn(2, 4, tiny_clip.text_width)
    for c in ctxs:
        torch.testing.assert_close(learner(normalize=True, ctx=c),
                                   _prompt_features(tiny_clip, NAMES, c),
                                   rtol=1e-4, atol=1e-5)
    idx = torch.tensor([0, 3, 3])
    per_prompt = torch.stack([ctxs[0], ctxs[1], ctxs[0]])
    want = torch.stack([_prompt_features(tiny_clip, [NAMES[i]], c)[0]
                        for i, c in zip(idx.tolist(), per_prompt,
                                        strict=True)])
    torch.testing.assert_close(learner(idx, normalize=True, ctx=per_prompt),
                               want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r'ctx override of shape \(2, 4, '):
        learner(idx, ctx=ctxs)
    with pytest.raises(ValueError, match='per-prompt ctx override'):
        learner(idx, ctx=per_prompt, fast=True)


def test_cocoop_grad_checkpoint_gives_the_same_loss_and_grads(tiny_clip):
    images, samples, _ = _batch(tiny_clip)
    results = []
    for recompute in (False, True):
        model = _build(COCOOP, tiny_clip, grad_checkpoint=recompute)
        loss = model(images, samples, mode='loss')['loss']
        loss.backward()
        results.append([loss.detach()] + [
            p.grad for p in model.parameters() if p.requires_grad])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# -- KgCoOp -------------------------------------------------------------------
KGCOOP = dict(type='KgCoOpClassifier',
              prompt_learner=dict(type='PompPromptLearner', n_ctx=4))


@pytest.mark.parametrize('kg_weight', [0.0, 8.0])
def test_kgcoop_loss_is_ce_plus_distance_to_hand_template(tiny_clip,
                                                          kg_weight):
    model = _build(KGCOOP, tiny_clip, kg_weight=kg_weight)
    images, samples, labels = _batch(tiny_clip)
    losses = model(images, samples, mode='loss')
    w = _prompt_features(tiny_clip, NAMES, model.prompt_learner.ctx)
    logits = tiny_clip.logit_scale * _image_features(tiny_clip,
                                                     images) @ w.t()
    hand = _hand_template(tiny_clip, NAMES)
    distance = sum(((w[i] - hand[i])**2).sum()
                   for i in range(len(NAMES))) / len(NAMES)
    torch.testing.assert_close(losses['loss_ce'],
                               F.cross_entropy(logits, labels),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(losses['loss_kg'], kg_weight * distance,
                               rtol=1e-4, atol=1e-5)
    assert float(distance.detach()) > 1e-3  # a random ctx: far from it
    with torch.no_grad():  # prediction is CoOp's
        torch.testing.assert_close(model(images, samples, mode='tensor'),
                                   logits, rtol=1e-4, atol=1e-4)


# -- MaPLe --------------------------------------------------------------------
MAPLE = dict(type='MaPLeClassifier',
             prompt_learner=dict(type='PompPromptLearner',
                                 ctx_init='a photo of a'))


def _maple_text_by_hand(clip, names, prompts, depth):
    """Text features with deep prompts: the blocks run one by one."""
    text, m = clip.model, prompts[0].shape[0]
    assert text.transformer.batch_first
    rows = []
    for name in names:
        ids = _tokens(clip, f'a photo of a {name}.')
        emb = clip.token_embedding(ids)
        x = torch.cat([emb[:, :1], prompts[0][None], emb[:, 1 + m:]], 1)
        x = x + text.positional_embedding
        for i, block in enumerate(text.transformer.resblocks):
            if 0 < i < depth:  # replace the hidden states of the context
                x = torch.cat([x[:, :1], prompts[i][None], x[:, 1 + m:]], 1)
            x = block(x, attn_mask=text.attn_mask)
        x = text.ln_final(x[0, ids.argmax(-1)]) @ text.text_projection
        rows.append(x)
    return F.normalize(torch.cat(rows), dim=-1)


def _maple_image_by_hand(clip, images, vprompts, depth):
    """Image features with vision prompts appended / replaced."""
    visual, m = clip.model.visual, vprompts[0].shape[0]
    x = visual._embeds(images)  # open_clip: patches, cls, pos, ln_pre
    first = visual.ln_pre(vprompts[0])  # LayerNorm is per token
    x = torch.cat([x, first.expand(len(x), -1, -1)], dim=1)
    for i, block in enumerate(visual.transformer.resblocks):
        if 0 < i < depth:
            x = torch.cat([x[:, :-m], vprompts[i].expand(len(x), -1, -1)], 1)
        x = block(x)
    x = visual.ln_post(x[:, 0]) @ visual.proj
    return F.normalize(x, dim=-1)


@pytest.mark.parametrize('depth', [1, 2])
def test_maple_towers_equal_hand_loops_over_blocks(clip2, depth):
    model = _build(MAPLE, clip2, prompt_depth=depth)
    with torch.no_grad():
        model.text_prompts.normal_(std=0.5)  # deep prompts that matter
    images, samples, labels = _batch(clip2)
    prompts = [model.prompt_learner.ctx, *model.text_prompts]
    assert len(prompts) == depth
    vprompts = model.vision_prompts()
    for j, (f, p) in enumerate(zip(model.couplings, prompts,
                                      strict=True)):
        want = p @ f.weight.t() + f.bias  # the coupling W_j P_j + b_j
        torch.testing.assert_close(vprompts[j], want)
        assert vprompts[j].shape == (4, clip2.model.visual.conv1.out_channels)
    text = _maple_text_by_hand(clip2, NAMES, prompts, depth)
    image = _maple_image_by_hand(clip2, images, vprompts, depth)
    want = clip2.logit_scale * image @ text.t()
    with torch.no_grad():
        got = model(images, samples, mode='tensor')
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    loss = model(images, samples, mode='loss')['loss']
    torch.testing.assert_close(loss, F.cross_entropy(want, labels),
                               rtol=1e-4, atol=1e-4)
    # the prompts change both towers (they are not a no-op)
    plain_image = _image_features(clip2, images)
    assert (image - plain_image).abs().max() > 1e-3
    if depth == 2:
        shallow = _maple_text_by_hand(clip2, NAMES, prompts, 1)
        assert (text - shallow).abs().max() > 1e-3


def test_maple_depth_zero_is_plain_clip(tiny_clip):
    model = _build(MAPLE, tiny_clip, prompt_depth=0)
    images, samples, _ = _batch(tiny_clip)
    want = tiny_clip.logit_scale * _image_features(tiny_clip, images) @ \
        _hand_template(tiny_clip, NAMES).t()
    with torch.no_grad():
        got = model(images, samples, mode='tensor')
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert not any(p.requires_grad for p in model.parameters())


# -- visual prompting ---------------------------------------------------------
VP = dict(type='VisualPromptClassifier', pad_size=4)


def test_vp_perturbs_only_the_border_and_classifies_with_clip(tiny_clip):
    model = _build(VP, tiny_clip)
    prompter = model.prompter
    images, samples, labels = _batch(tiny_clip)
    h, w = tiny_clip.image_size
    p = 4
    pert = prompter.perturbation()
    assert pert.shape == (1, 3, h, w)
    inner = torch.zeros(h, w, dtype=torch.bool)
    inner[p:h - p, p:w - p] = True
    assert (pert[..., inner] == 0).all()  # the interior is untouched
    assert (pert[..., ~inner] != 0).all()  # every border pixel learns
    # the frame by hand: strips at the top, bottom, left and right
    frame = torch.zeros(1, 3, h, w)
    frame[..., :p, :] = prompter.pad_up
    frame[..., h - p:, :] = prompter.pad_down
    frame[..., p:h - p, :p] = prompter.pad_left
    frame[..., p:h - p, w - p:] = prompter.pad_right
    torch.testing.assert_close(pert, frame)
    n_params = sum(q.numel() for q in model.parameters() if q.requires_grad)
    assert n_params == 2 * 3 * p * (h + w - 2 * p)
    want = tiny_clip.logit_scale * _image_features(
        tiny_clip, images + frame) @ _hand_template(tiny_clip, NAMES).t()
    with torch.no_grad():
        got = model(images, samples, mode='tensor')
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    loss = model(images, samples, mode='loss')['loss']
    torch.testing.assert_close(loss, F.cross_entropy(want, labels),
                               rtol=1e-4, atol=1e-4)


# -- every method: gradients, frozen CLIP, POMP init, errors ------------------
METHODS = {
    'cocoop': (COCOOP, {}, {'prompt_learner.ctx', 'meta_net.linear1.weight',
                            'meta_net.linear1.bias', 'meta_net.linear2.weight',
                            'meta_net.linear2.bias'}),
    'kgcoop': (KGCOOP, {}, {'prompt_learner.ctx'}),
    'maple': (MAPLE, dict(prompt_depth=2),
              {'prompt_learner.ctx', 'text_prompts', 'couplings.0.weight',
               'couplings.0.bias', 'couplings.1.weight',
               'couplings.1.bias'}),
    'vp': (VP, {}, {'prompter.pad_up', 'prompter.pad_down',
                    'prompter.pad_left', 'prompter.pad_right'}),
}


@pytest.mark.parametrize('method', sorted(METHODS))
def test_gradients_reach_exactly_the_prompts_and_clip_stays(clip2, method):
    cfg, kwargs, trainable = METHODS[method]
    model = _build(cfg, clip2, **kwargs)
    images, samples, _ = _batch(clip2)
    frozen = {k: v.clone() for k, v in clip2.model.state_dict().items()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()
              if p.requires_grad}
    assert set(before) == trainable
    losses = model(images, samples, mode='loss')
    loss = sum(losses.values())
    assert torch.isfinite(loss)
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == trainable
    for n, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                    lr=1.0).step()
    for n, p in model.named_parameters():
        if n in trainable:
            assert not torch.equal(p, before[n]), n
    after = clip2.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())


@pytest.mark.parametrize('method', ['cocoop', 'kgcoop', 'maple'])
def test_text_methods_start_from_a_prompt_file(tiny_clip, tmp_path, method):
    ctx = torch.randn(4, tiny_clip.text_width)
    path = str(tmp_path / 'pomp.pth')
    save_prompt(path, ctx, epoch=1)
    cfg, _, _ = METHODS[method]
    cfg = dict(cfg, prompt_learner=dict(type='PompPromptLearner',
                                        prompt_checkpoint=path))
    model = _build(cfg, tiny_clip, **({'prompt_depth': 1}
                                      if method == 'maple' else {}))
    assert torch.equal(model.prompt_learner.ctx.detach(), ctx)


@pytest.mark.parametrize('cfg, kwargs, match', [
    (MAPLE, dict(prompt_depth=2), r'prompt_depth=2: expected 0\.\.1'),
    (dict(MAPLE, prompt_learner=dict(type='PompPromptLearner', n_ctx=2,
                                     class_token_position='front')),
     {}, "class_token_position='end'"),
    (dict(COCOOP, prompt_learner=dict(type='PompPromptLearner', n_ctx=2,
                                      class_specific=True,
                                      vocabulary=NAMES)),
     {}, 'class_specific=True is not supported'),
    (COCOOP, dict(meta_net_reduction=0), 'meta_net_reduction=0'),
    (KGCOOP, dict(kg_weight=-1), 'kg_weight=-1'),
    (VP, dict(pad_size=16), r'pad_size=16: expected 0 < 2 \* pad_size'),
])
def test_bad_settings_raise_one_clear_error(tiny_clip, cfg, kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        _build(cfg, tiny_clip, **kwargs)
    assert '\n' not in str(e.value)


@pytest.mark.parametrize('method', ['cocoop', 'vp'])
def test_label_outside_the_training_vocabulary(tiny_clip, method):
    model = _build(METHODS[method][0], tiny_clip)
    images, samples, _ = _batch(tiny_clip, n=1)
    samples[0].set_gt_label(len(NAMES))
    with pytest.raises(ValueError, match='label 5 is out of range for the '
                       'training vocabulary of 5 classes'):
        model(images, samples, mode='loss')


# -- configs end to end -------------------------------------------------------
CONFIGS = ['cocoop/miniworld_b2n.py', 'cocoop/miniworld_b2n_pomp-init.py',
           'kgcoop/miniworld_b2n.py', 'kgcoop/miniworld_b2n_pomp-init.py',
           'maple/miniworld_b2n.py', 'maple/miniworld_b2n_pomp-init.py',
           'vp/miniworld_b2n.py']


@pytest.fixture(scope='module')
def e2e_files(tmp_path_factory, clip2):
    """The tiny CLIP's weights and a prompt file of its width in tmp."""
    tmp = tmp_path_factory.mktemp('zoo')
    weights = str(tmp / 'clip.pt')
    torch.save(clip2.model.state_dict(), weights)
    prompt = str(tmp / 'pomp.pth')
    torch.manual_seed(3)
    save_prompt(prompt, 0.02 * torch.randn(4, clip2.text_width), epoch=1)
    return weights, prompt


def _options(config, weights, prompt, test_subset=None):
    key = 'model.clip' if config.startswith('vp/') else \
        'model.prompt_learner.clip'
    opts = [f'{key}.model_name=pomp-tiny-vit', f'{key}.checkpoint={weights}',
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'train_dataloader.batch_size=3', 'default_hooks.logger.interval=1']
    for loader in ('train', 'val', 'test'):
        opts += [f'{loader}_dataloader.dataset.max_classes=3',
                 f'{loader}_dataloader.dataset.images_per_class='
                 + ('1' if loader == 'train' else '2')]
    if 'pomp-init' in config:
        opts.append(f'model.prompt_learner.prompt_checkpoint={prompt}')
    if test_subset == 'val':  # the validation set, as the test set
        opts.append('test_dataloader.dataset.sample_seed=12')
    elif test_subset:
        opts.append(f'test_dataloader.dataset.subset={test_subset}')
    return opts


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_and_tests_through_the_tools(config, e2e_files,
                                                   tmp_path):
    weights, prompt = e2e_files
    cfg = osp.join(ROOT, 'configs', 'zoo', config)
    work = tmp_path / 'work'
    engine_train.main([cfg, '--work-dir', str(work), '--cfg-options',
                             *_options(config, weights, prompt)])
    ckpt = work / 'epoch_1.pth'
    state = safe_torch_load(str(ckpt))['state_dict']
    method = config.split('/')[0]
    assert set(state) == METHODS[method][2]  # the prompts; CLIP is rebuilt
    scalars = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars[0]) as f:
        rows = [json.loads(line) for line in f]
    in_run = [r['accuracy/top1'] for r in rows if 'accuracy/top1' in r]
    assert len(in_run) == 1
    test = engine_test
    # the saved checkpoint reproduces the in-run (validation) accuracy
    again = test.main([cfg, str(ckpt), '--work-dir', str(tmp_path / 't1'),
                       '--cfg-options',
                       *_options(config, weights, prompt, 'val')])
    assert again['accuracy/top1'] == pytest.approx(in_run[0])
    novel = test.main([cfg, str(ckpt), '--work-dir', str(tmp_path / 't2'),
                       '--cfg-options',
                       *_options(config, weights, prompt, 'unseen')])
    assert 0 <= novel['accuracy/top1'] <= 100
