# Copyright (c) pomp_mm contributors. All rights reserved.
"""Tests of tools/dump_text_features.py (tiny random CLIP, CPU, seconds)."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

# pomp_mm.core registers the tiny open_clip configs ('pomp-test-vit')
from pomp_mm.core import FrozenCLIP, PompPromptLearner, save_prompt
from pomp_mm.engine import dump_text_features as dump_cli

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(ROOT, 'tools', 'dump_text_features.py')
MODEL = 'pomp-test-vit'
NAMES = ['dog', 'hot_dog', 'traffic light', 'tabby cat', 'fire_hydrant']
CLEAN = ['dog', 'hot dog', 'traffic light', 'tabby cat', 'fire hydrant']
N_CTX, WIDTH, DIM = 4, 32, 32


tool = dump_cli
TOKENIZER = open_clip.get_tokenizer(MODEL)


def write_lines(path, lines):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(''.join(line + '\n' for line in lines))
    return str(path)


@pytest.fixture(scope='module')
def files(tmp_path_factory, clip_weights):
    """A CLIP weight file, a class-name file and a prompt file."""
    folder = tmp_path_factory.mktemp('dump')
    with torch.random.fork_rng():
        torch.manual_seed(1)
        ctx = torch.randn(N_CTX, WIDTH) * 0.5
    prompt_path = str(folder / 'prompt.pth')
    save_prompt(prompt_path, ctx, epoch=3)
    classes = write_lines(folder / 'classes.txt', NAMES)
    return dict(clip=clip_weights, classes=classes, prompt=prompt_path,
                ctx=ctx)


@pytest.fixture(scope='module')
def ref_model(files):
    """open_clip's own model with the same weights (independent reference)."""
    model = open_clip.create_model(MODEL, pretrained=None)
    model.load_state_dict(torch.load(files['clip'], weights_only=True))
    return model.eval()


def run(files, out, *extra):
    argv = ['--model', MODEL, '--clip-checkpoint', files['clip'],
            '--classes', files['classes'], '--out', str(out),
            '--device', 'cpu', *extra]
    tool.main(argv)
    return np.load(out)


@torch.no_grad()
def open_clip_text(model, texts):
    return model.encode_text(TOKENIZER(texts)).float()


def assert_close(got, want, dtype):
    want = want.numpy().astype(dtype)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    if dtype == 'float16':
        np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-3,
                                   atol=2e-3)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('normalize', [False, True])
@pytest.mark.parametrize('dtype', ['float32', 'float16'])
def test_template_matches_open_clip(files, ref_model, tmp_path, normalize,
                                    dtype):
    out = tmp_path / 'feats.npy'
    extra = ['--dtype', dtype, '--batch-size', '2']  # 3 batches: a bar
    got = run(files, out, *extra, *(['--normalize'] if normalize else []))
    want = open_clip_text(ref_model, [f'a photo of a {n}.' for n in CLEAN])
    if normalize:
        want = F.normalize(want, dim=-1)
    else:  # raw features by default, like the official POMP files
        assert not np.allclose(np.linalg.norm(got.astype(np.float32), axis=1),
                               1, atol=1e-2)
    assert_close(got, want, dtype)
    assert os.listdir(tmp_path) == ['feats.npy']  # no temp file left


def test_template_ensemble(files, ref_model, tmp_path):
    templates = ['a photo of a {}.', 'a sketch of the {}.']
    argv = [x for t in templates for x in ('--template', t)]
    got = run(files, tmp_path / 'ens.npy', *argv)
    # CLIP's ensemble: normalise per template, average, normalise again
    want = F.normalize(sum(F.normalize(open_clip_text(
        ref_model, [t.format(n) for n in CLEAN]), dim=-1)
        for t in templates) / len(templates), dim=-1)
    assert_close(got, want, 'float32')
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, rtol=1e-5)
    # --normalize changes nothing for an ensemble
    again = run(files, tmp_path / 'ens_n.npy', *argv, '--normalize')
    np.testing.assert_allclose(again, got, rtol=1e-6, atol=1e-7)
    got = run(files, tmp_path / 'one.npy', '--template', 'itap of a {}')
    assert_close(got, open_clip_text(ref_model,
                                     [f'itap of a {n}' for n in CLEAN]),
                 'float32')


@torch.no_grad()
def splice_reference(model, ctx):
    """The POMP prompt computed by hand from open_clip's modules."""
    tokens = TOKENIZER(
        [f'{" ".join(["X"] * N_CTX)} {n}.' for n in CLEAN])
    x = model.token_embedding(tokens)
    x[:, 1:1 + N_CTX] = ctx
    x = x + model.positional_embedding
    x = model.transformer(x, attn_mask=model.attn_mask)
    x = model.ln_final(x)
    x = x[torch.arange(len(tokens)), tokens.argmax(dim=-1)]
    return x @ model.text_projection


def test_prompt_matches_learner_and_splice(files, ref_model, tmp_path):
    got = run(files, tmp_path / 'p.npy', '--prompt', files['prompt'])
    learner = PompPromptLearner(
        FrozenCLIP(MODEL, files['clip'], text_only=True), vocabulary=NAMES,
        prompt_checkpoint=files['prompt'])
    assert learner.n_ctx == N_CTX
    assert_close(got, learner.encode_vocabulary(normalize=False), 'float32')
    want = splice_reference(ref_model, files['ctx'])
    assert_close(got, want, 'float32')
    # the prompt changes the features (not silently the hand template)
    hand = open_clip_text(ref_model, [f'a photo of a {n}.' for n in CLEAN])
    assert not np.allclose(got, hand.numpy(), atol=1e-3)
    got16 = run(files, tmp_path / 'p16.npy', '--prompt', files['prompt'],
                '--normalize', '--dtype', 'float16', '--batch-size', '2')
    assert_close(got16, F.normalize(want, dim=-1), 'float16')


def test_official_style_prompt(files, tmp_path):
    path = str(tmp_path / 'released.pth.tar')
    torch.save({'state_dict': {'ctx': files['ctx'].half(),
                               'token_prefix': torch.randn(1, 1, WIDTH)},
                'epoch': 5}, path)
    got = run(files, tmp_path / 'r.npy', '--prompt', path)
    ref = run(files, tmp_path / 'p.npy', '--prompt', files['prompt'])
    assert got.shape == ref.shape == (len(NAMES), DIM)
    np.testing.assert_allclose(got, ref, rtol=1e-2, atol=1e-2)


def test_random_init_is_deterministic(files, tmp_path):
    argv = ['--model', MODEL, '--random-init', '--classes', files['classes'],
            '--device', 'cpu']
    tool.main(argv + ['--out', str(tmp_path / 'a.npy')])
    tool.main(argv + ['--out', str(tmp_path / 'b' / 'b.npy')])  # new folder
    a, b = np.load(tmp_path / 'a.npy'), np.load(tmp_path / 'b' / 'b.npy')
    assert a.shape == (len(NAMES), DIM) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def bad_cases(files, tmp):
    """(argv changes, text the error line must contain) per bad input."""
    dup = write_lines(tmp / 'dup.txt', ['dog', 'cat', 'dog'])
    wide = str(tmp / 'wide.pth')
    save_prompt(wide, torch.zeros(N_CTX, 48))
    corrupt = tmp / 'corrupt.pth'
    corrupt.write_bytes(b'not a checkpoint')
    missing = str(tmp / 'missing.txt')
    long = write_lines(tmp / 'long.txt', ['dog', 'very ' * 80 + 'long cat'])
    return {
        'missing classes': (['--classes', missing], missing),
        'duplicate class': (['--classes', dup], "duplicate class name 'dog' on lines 1 and 3"),
        'prompt width': (['--prompt', wide], 'ctx width 48'),
        'missing prompt': (['--prompt', str(tmp / 'no.pth')], 'no.pth'),
        'corrupt prompt': (['--prompt', str(corrupt)], str(corrupt)),
        'corrupt clip': (['--clip-checkpoint', str(corrupt)], str(corrupt)),
        'unknown model': (['--model', 'ViT-Q-99'], 'ViT-Q-99'),
        'name too long': (['--classes', long], '77-token context'),
        'non-npy out': (['--out', str(tmp / 'feats.npz')], 'feats.npz'),
        'template': (['--template', 'a photo'], "'a photo'"),
        'template+prompt': (['--template', 'a {}', '--prompt',
                             files['prompt']], '--template'),
    }


def test_bad_inputs(files, tmp_path, capsys):
    out = tmp_path / 'feats.npy'
    out.write_bytes(b'previous features')
    for case, (changes, needle) in bad_cases(files, tmp_path).items():
        argv = ['--model', MODEL, '--clip-checkpoint', files['clip'],
                '--classes', files['classes'], '--out', str(out),
                '--device', 'cpu']
        for i in range(0, len(changes), 2):
            if changes[i] in argv:
                argv[argv.index(changes[i]) + 1] = changes[i + 1]
            else:
                argv += changes[i:i + 2]
        with pytest.raises(SystemExit) as exc:
            tool.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, case
        assert err.startswith('dump_text_features: error: '), (case, err)
        assert err.count('\n') == 1 and 'Traceback' not in err, (case, err)
        assert needle in err, (case, err)
        assert out.read_bytes() == b'previous features', case
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_checkpoint_or_random_init_required(files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        tool.main(['--classes', files['classes'], '--out',
                   str(tmp_path / 'f.npy')])
    assert exc.value.code == 2
    assert '--clip-checkpoint' in capsys.readouterr().err


@pytest.mark.slow
def test_runs_as_script(files, tmp_path):
    out = tmp_path / 'script.npy'
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--model', MODEL, '--random-init',
         '--classes', files['classes'], '--out', str(out), '--dtype',
         'float16', '--device', 'cpu'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f'wrote ({len(NAMES)}, {DIM}) float16 features of {len(NAMES)} ' \
        f'classes to {out}' in proc.stdout
    feats = np.load(out)
    assert feats.shape == (len(NAMES), DIM) and feats.dtype == np.float16
    assert np.isfinite(feats).all()
