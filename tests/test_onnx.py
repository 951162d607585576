"""ONNX export (pomp_mm.apis.export, tools/export_onnx.py): onnxruntime
against PyTorch on mini-world scenes (the cls inferencer's scores, its own
preprocessing vs the numpy contract), the prompted text tower on names the
prompt never saw (token ids checked against the learner's own
tokenization), NaN for ids that are not a prompt, the one-line bad inputs,
and a verification that fails when the file differs.

Tolerances: ``SCORE_TOL`` (1e-4) and ``FEATURE_TOL`` (1e-6) of
:mod:`pomp_mm.apis.export`, derived there: fp32 features of unit norm
differ by a few ulps between two runtimes' summation orders, and at a logit
scale ``s`` softmax scores move by at most ``s * |d feature|``.
"""
import ast
import json
import os
import os.path as osp

import numpy as np
import open_clip
import pytest
import torch

from pomp_mm.apis import PompInferencer
from pomp_mm.apis import export as ox
from pomp_mm.core.checkpoint import save_prompt
from test_apis import _classes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ort = pytest.importorskip('onnxruntime')
MODEL = 'pomp-test-vit'
#: names no prompt was trained on, of 1 to 20 BPE tokens; ')' + '.' merge
NEW_NAMES = ['x', 'bat (animal)', 'zebra crossing',
             'purple octagon with a small notch in its upper left corner '
             'and two dots', 'yo-yo', 'st. bernard mountain dog']


def _images(scenes):
    folder = osp.join(scenes, 'images', 'test')
    return [osp.join(folder, f) for f in sorted(os.listdir(folder))]


def _export(tmp_path_factory, name, argv):
    out = str(tmp_path_factory.mktemp('onnx') / f'{name}.onnx')
    sidecar = ox.main(argv + ['--out', out])
    return out, sidecar


@pytest.fixture(scope='module')
def cls_file(tmp_path_factory, scenes, clip_weights, prompt):
    """The cls-image graph of the scenes' classes, through the CLI."""
    return _export(tmp_path_factory, 'cls', [
        '--task', 'cls-image', '--model-name', MODEL, '--clip-checkpoint',
        clip_weights, '--prompt', prompt, '--texts',
        ' . '.join(_classes(scenes))])


@pytest.fixture(scope='module')
def text_file(tmp_path_factory, clip_weights, prompt):
    """The text graph, with --benchmark (2 calls) through the CLI."""
    return _export(tmp_path_factory, 'text', [
        '--task', 'text', '--model-name', MODEL, '--clip-checkpoint',
        clip_weights, '--prompt', prompt, '--benchmark', '--repeats', '2',
        '--threads', '1'])


@pytest.fixture(scope='module')
def model(clip_weights, prompt):
    return ox.build_model(MODEL, clip_weights, prompt)[0]


def _session(path):
    return ort.InferenceSession(path, providers=['CPUExecutionProvider'])


def _inferencer_scores(scenes, clip_weights, prompt, names):
    """(B, N) softmax scores of PompInferencer('cls') (PyTorch, mmcv
    loading, its own pipeline and data preprocessor)."""
    inferencer = PompInferencer('cls', model_name=MODEL,
                                clip_checkpoint=clip_weights, prompt=prompt)
    out = inferencer(_images(scenes), texts=names, return_datasamples=True)
    return np.stack([s.pred_score.float().numpy()
                     for s in out['predictions']])


def _check_top1(got, ref, tol):
    """Same top-1; each image's top-2 margin is checked to exceed the
    tolerance first, so the comparison means something."""
    top2 = np.sort(ref, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0] > tol).all(), top2
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


def test_cls_image_same_as_inferencer(cls_file, scenes, clip_weights,
                                      prompt):
    path, sidecar = cls_file
    names = _classes(scenes)
    ref = _inferencer_scores(scenes, clip_weights, prompt, names)
    pixels = ox.load_images(_images(scenes), 32)
    assert pixels.dtype == np.uint8 and pixels.shape == (len(ref), 3, 32, 32)
    session = _session(path)
    logits, scores = session.run(None, {'pixels': pixels})
    assert scores.shape == ref.shape
    np.testing.assert_allclose(scores, ref, rtol=0, atol=ox.SCORE_TOL)
    _check_top1(scores, ref, ox.SCORE_TOL)
    # the dynamic batch: one image at a time gives the same numbers
    for i in range(len(pixels)):
        one = session.run(None, {'pixels': pixels[i:i + 1]})[1]
        np.testing.assert_allclose(one[0], scores[i], rtol=0, atol=1e-6)
    # softmax of the logits, at the CLIP's logit scale
    np.testing.assert_allclose(
        torch.from_numpy(logits).softmax(-1).numpy(), scores, atol=1e-6)
    record = json.load(open(path + '.json'))
    assert record == json.loads(json.dumps(sidecar))
    assert record['class_names'] == names
    assert record['inputs']['pixels']['shape'] == ['batch', 3, 32, 32]
    assert record['clip']['fingerprint'].startswith('sha256:')
    assert record['prompt']['file'] == 'prompt.pth'
    assert record['verify']['max_score_diff'] <= ox.SCORE_TOL


def test_token_ids_are_the_learners_prompt(model):
    """The graph's input for a name is open_clip's tokenizer of 'name.',
    and splicing ctx after SOS gives the learner's own token sequence."""
    learner = model.prompt_learner
    tok = learner.clip.tokenizer
    m = learner.n_ctx
    ids = ox.prompt_token_ids(NEW_NAMES, tok.encode, m)
    ref = open_clip.get_tokenizer(MODEL)([n + '.' for n in NEW_NAMES])
    np.testing.assert_array_equal(ids, ref.numpy())
    learner.set_vocabulary(NEW_NAMES)
    own = learner.token_ids.numpy()  # [SOS] X*m name . [EOT] pad
    np.testing.assert_array_equal(own[:, 0], ids[:, 0])
    np.testing.assert_array_equal(own[:, 1 + m:], ids[:, 1:77 - m])
    np.testing.assert_array_equal(learner.eot_idx.numpy(),
                                  ids.argmax(1) + m)
    assert len(set((ids > 0).sum(1).tolist())) == 5  # token lengths
    # ')' and '.' are one BPE token: the '.' cannot be added to ids later
    assert ox.prompt_token_ids(['bat (animal)'], tok.encode, m)[0, 4] != \
        open_clip.get_tokenizer(MODEL)(['bat (animal)'])[0, 4]
    with pytest.raises(ValueError, match='needs 78 tokens'):
        ox.prompt_token_ids(['a ' * 71], tok.encode, m)


def test_text_graph_on_new_names(text_file, model):
    path, sidecar = text_file
    learner = model.prompt_learner
    tok = learner.clip.tokenizer
    ids = ox.prompt_token_ids(NEW_NAMES, tok.encode, sidecar['n_ctx'],
                              sidecar['inputs']['token_ids']['sot'],
                              sidecar['inputs']['token_ids']['eot'])
    got = _session(path).run(None, {'token_ids': ids})[0]
    learner.set_vocabulary(NEW_NAMES)
    with torch.no_grad():  # the official 77-token path and the fast path
        plain = learner(normalize=True, fast=False, truncate=False).numpy()
        fast = learner(normalize=True, fast=True).numpy()
    for ref in (plain, fast):
        np.testing.assert_allclose(got, ref, rtol=0, atol=ox.FEATURE_TOL)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)
    assert sidecar['benchmark']['torch_ms'] > 0
    assert sidecar['benchmark']['onnxruntime_ms'] > 0
    assert 'class_names' not in sidecar


def test_text_graph_nan_for_non_prompts(text_file, model):
    """Ids without the full stop, truncated by the tokenizer, or too long
    once ctx is in give NaN; the valid rows of the batch do not change."""
    path, sidecar = text_file
    session = _session(path)
    tokenizer = open_clip.get_tokenizer(MODEL)
    m = sidecar['n_ctx']
    good = tokenizer(['red heart.', 'x.']).numpy()
    no_dot = tokenizer(['red heart']).numpy()
    truncated = tokenizer([' '.join(['word'] * 90) + '.']).numpy()
    # [SOS] k words . [EOT] is k + 3 tokens, k + 3 + m with ctx: <= 77
    too_long = tokenizer([' '.join(['word'] * (75 - m)) + '.']).numpy()
    fits = tokenizer([' '.join(['word'] * (74 - m)) + '.']).numpy()
    feats = session.run(None, {'token_ids': np.concatenate(
        [good, no_dot, truncated, too_long, fits])})[0]
    assert np.isfinite(feats[:2]).all() and np.isfinite(feats[5]).all()
    assert np.isnan(feats[2:5]).all()
    alone = session.run(None, {'token_ids': good})[0]
    np.testing.assert_allclose(feats[:2], alone, atol=1e-6)


def test_text_features_classify_as_the_image_graph(cls_file, text_file,
                                                   model, scenes):
    """The text graph's features of the vocabulary, put in place of the
    baked classifier, give the cls-image graph's scores and top-1."""
    names = _classes(scenes)
    tok = model.clip.tokenizer
    text = _session(text_file[0]).run(None, {'token_ids': ox.prompt_token_ids(
        names, tok.encode, text_file[1]['n_ctx'])})[0]
    pixels = ox.load_images(_images(scenes), 32)
    scores = _session(cls_file[0]).run(None, {'pixels': pixels})[1]
    mean, std = (torch.tensor(v).view(1, 3, 1, 1)
                 for v in (ox.CLIP_MEAN, ox.CLIP_STD))
    with torch.no_grad():
        image = model.encode_image(
            (torch.from_numpy(pixels).float() - mean) / std).numpy()
    scale = cls_file[1]['logit_scale']
    mine = torch.from_numpy(scale * image @ text.T).softmax(-1).numpy()
    np.testing.assert_allclose(mine, scores, rtol=0, atol=ox.SCORE_TOL)
    _check_top1(mine, scores, ox.SCORE_TOL)


def test_verify_fails_when_onnx_differs(cls_file, model, scenes):
    """A file that differs from the PyTorch model stops the export."""
    module = ox.ImageClassifierGraph(
        model.clip, model.encode_vocabulary(_classes(scenes)),
        model.logit_scale).eval()
    session = _session(cls_file[0])
    pixels = [np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32),
                                                dtype=np.uint8)]
    assert ox.verify_classifier(session, module, pixels)[
        'max_score_diff'] <= ox.SCORE_TOL
    with torch.no_grad():
        module.classifier[0] = -module.classifier[0]  # PyTorch changed
    with pytest.raises(ox.VerifyError, match='differs from PyTorch'):
        ox.verify_classifier(session, module, pixels)


@pytest.mark.parametrize('argv, expected', [
    (['--task', 'cls-image', '--model-name', MODEL], 'needs --texts'),
    (['--task', 'text', '--model-name', MODEL, '--prompt', 'nope.pth'],
     '--prompt nope.pth: file not found'),
    (['--task', 'text'], 'give --model-name'),
    (['--task', 'cls-image', '--model-name', MODEL, '--texts', 'a . b',
      '--out-name-fix'], "unrecognized arguments"),
    (['--task', 'cls-image', '--model-name', MODEL, '--texts', ''],
     'needs --texts'),
    (['--task', 'text', '--model-name', MODEL, '--threads', '0'],
     '--threads 0: expected >= 1'),
])
def test_bad_inputs_one_line(argv, expected, tmp_path, capsys):
    out = str(tmp_path / 'm.onnx')
    with pytest.raises(SystemExit) as e:
        ox.main(argv + ['--out', out])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert expected in err[-1], err
    assert not osp.exists(out)


def test_bad_inputs_found_before_export(tmp_path, clip_weights, prompt,
                                        capsys):
    """A wrong --out, a CSC prompt for the text graph, a name too long:
    one line, nothing written."""
    base = ['--model-name', MODEL, '--clip-checkpoint', clip_weights]
    with pytest.raises(SystemExit):
        ox.main(['--task', 'text'] + base + ['--out', str(tmp_path / 'x.pt')])
    assert 'ending in .onnx' in capsys.readouterr().err
    csc = str(tmp_path / 'csc.pth')
    save_prompt(csc, torch.randn(2, 4, 32) * 0.02)
    out = str(tmp_path / 'm.onnx')
    with pytest.raises(SystemExit) as e:
        ox.main(['--task', 'text'] + base + ['--prompt', csc, '--out', out])
    assert str(e.value).startswith('export_onnx.py: error:') and \
        '\n' not in str(e.value) and 'csc.pth' in str(e.value)
    with pytest.raises(SystemExit) as e:
        ox.main(['--task', 'cls-image'] + base + [
            '--prompt', prompt, '--texts', 'red heart . ' + 'word ' * 80,
            '--out', out])
    assert 'do not fit' in str(e.value) and '\n' not in str(e.value)
    assert not osp.exists(out)


def test_onnx_imports_are_lazy():
    """``import pomp_mm.apis`` (and the export module) need no onnx:
    onnx / onnxruntime / onnxscript are imported inside functions only."""
    for rel in ('pomp_mm/apis/export.py', 'pomp_mm/apis/__init__.py',
                'tools/export_onnx.py'):
        tree = ast.parse(open(osp.join(ROOT, rel)).read())
        for node in tree.body:  # module level only
            names = [a.name for a in node.names] if isinstance(
                node, ast.Import) else [node.module or ''] if isinstance(
                    node, ast.ImportFrom) else []
            assert not any(n.split('.')[0] in ('onnx', 'onnxruntime',
                                               'onnxscript')
                           for n in names), (rel, names)


def test_config_route_same_graph(tmp_path_factory, cls_file, scenes,
                                 clip_weights, prompt):
    """--config (a cls config, CLIP and prompt given) exports the classifier
    the --model-name route does, and records the config's sizing steps."""
    path, sidecar = _export(tmp_path_factory, 'cfg', [
        '--task', 'cls-image', '--config',
        osp.join(ROOT, 'configs/miniworld/zeroshot.py'), '--model-name',
        MODEL, '--clip-checkpoint', clip_weights, '--prompt', prompt,
        '--texts', ' . '.join(_classes(scenes))])
    pixels = ox.load_images(_images(scenes), 32)
    got = _session(path).run(None, {'pixels': pixels})[1]
    ref = _session(cls_file[0]).run(None, {'pixels': pixels})[1]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    steps = sidecar['inputs']['pixels']['preprocess']
    assert any('ResizeEdge' in s for s in steps) and \
        any('CenterCrop' in s for s in steps), steps
    assert sidecar['clip']['fingerprint'] == cls_file[1]['clip'][
        'fingerprint']
