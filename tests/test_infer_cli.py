"""tools/infer.py (pomp_mm.engine.infer): the one inference CLI, its
mini-world default files, and one run of the tool itself."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from pomp_mm.benchmarks.miniworld import defaults
from pomp_mm.core.checkpoint import save_prompt
from pomp_mm.engine import infer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow


@pytest.fixture
def files(tmp_path, clip_weights):
    prompt = str(tmp_path / 'prompt.pth')
    torch.manual_seed(4)
    save_prompt(prompt, torch.randn(4, 32) * 0.02, epoch=1, meta={})
    rng = np.random.RandomState(0)
    for sub in ('hearts', 'stars'):  # the same file name in two folders
        os.makedirs(tmp_path / 'imgs' / sub)
        cv2.imwrite(str(tmp_path / 'imgs' / sub / 'img.png'),
                    rng.randint(0, 255, (64, 64, 3), np.uint8))
    return dict(clip=clip_weights, prompt=prompt,
                images=str(tmp_path / 'imgs'))


def test_cls_and_seg_write_pictures_and_json(files, tmp_path, capsys):
    for task in ('cls', 'seg'):
        out = str(tmp_path / f'out_{task}')
        result = infer.main([
            task, files['images'], '--texts', 'red heart . blue star',
            '--model-name', 'pomp-test-vit', '--clip-checkpoint',
            files['clip'], '--prompt', files['prompt'], '--out-dir', out,
            '--topk', '2'])
        printed = capsys.readouterr().out.splitlines()
        assert printed[-1] == f'2 image(s), 2 class(es) -> {out}'
        assert len(printed) == 3 and printed[0].startswith(
            osp.join(files['images'], 'hearts', 'img.png') + '\t')
        for sub in ('hearts', 'stars'):
            drawn = cv2.imread(osp.join(out, 'vis', sub, 'img.png'))
            # 64 px drawn at 384 px, the labels in a panel beside it
            assert drawn is not None and drawn.shape[0] == 384 and \
                drawn.shape[1] > 384
        record = json.load(open(osp.join(out, 'predictions.json')))
        assert record['task'] == task and record['prompt'] == files['prompt']
        assert record['classes'] == ['red heart', 'blue star']
        assert len(record['predictions']) == 2
        if task == 'cls':
            assert record['predictions'][0]['labels'] == \
                result['predictions'][0]['labels']
        else:
            label = cv2.imread(osp.join(out, 'label_maps', 'stars',
                                        'img.png'), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(
                label, result['predictions'][1]['label_map'])


def test_bad_input_is_one_line_before_work(files, tmp_path, capsys):
    base = ['--model-name', 'pomp-test-vit', '--clip-checkpoint',
            files['clip']]
    for argv, msg in (
            (['cls', str(tmp_path / 'no.png'), '--texts', 'a'] + base,
             'no.png: image file not found'),
            (['cls', files['images'], '--texts', 'a . a'] + base,
             "class name 'a' appears twice"),
            (['det', files['images'], '--texts', 'a', '--clip-checkpoint',
              files['clip']], 'det: give --config and --weights'),
            (['cls', files['images'], '--texts', 'a', '--clip-checkpoint',
              files['clip']], 'give --model-name'),
            (['seg', files['images'], '--texts', 'a', '--prompt',
              str(tmp_path / 'nope.pth')] + base,
             '--prompt ' + str(tmp_path / 'nope.pth') + ': file not found')):
        with pytest.raises(SystemExit):
            infer.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert msg in err[-1], (argv, err)


def test_defaults_found_at_the_documented_place(files, tmp_path,
                                                monkeypatch, capsys):
    """With no model given, the CLI asks the benchmark's default_files;
    present files are used as they are, a missing CLIP or prompt is built
    (mocked here: the real build takes many minutes) with a message."""
    monkeypatch.chdir(tmp_path)
    built = []
    monkeypatch.setattr(defaults, 'build_default_clip',
                        lambda path: built.append(('clip', path)) or path)
    monkeypatch.setattr(
        defaults, 'build_default_prompt',
        lambda path, clip: built.append(('prompt', path, clip)) or path)
    got = defaults.default_files('seg', log=print)
    assert built == [('clip', defaults.DEFAULT_CLIP),
                     ('prompt', defaults.DEFAULT_PROMPT,
                      defaults.DEFAULT_CLIP)]
    printed = capsys.readouterr().out
    assert f'default tiny CLIP {defaults.DEFAULT_CLIP} not found: training' \
        in printed
    assert f'default POMP prompt {defaults.DEFAULT_PROMPT} not found' \
        in printed
    assert got == dict(model_name='pomp-mini-vit',
                       clip_checkpoint=defaults.DEFAULT_CLIP,
                       prompt=defaults.DEFAULT_PROMPT, dense_mode='cls',
                       crop_size=64)
    assert defaults.DEFAULT_CLIP == osp.join('data', 'miniworld',
                                             'tiny_clip.pt')
    # present: used, nothing built
    for path in (defaults.DEFAULT_CLIP, defaults.DEFAULT_PROMPT):
        os.makedirs(osp.dirname(path), exist_ok=True)
    os.link(files['clip'], defaults.DEFAULT_CLIP)
    os.link(files['prompt'], defaults.DEFAULT_PROMPT)
    built.clear()
    got = defaults.default_files('cls', log=print)
    assert built == [] and 'not found' not in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match='pass --weights DET.pth'):
        defaults.default_files('det')
    # the CLI with no model: the default files (the test CLIP's name)
    monkeypatch.setattr(defaults, 'DEFAULT_CLIP_MODEL', 'pomp-test-vit')
    calls = []

    def spy(task, prompt=None):
        calls.append((task, prompt))
        return defaults.default_files(task, prompt=prompt)

    result = infer.main(['cls', files['images'], '--texts', 'a . b'],
                        defaults=spy)
    assert calls == [('cls', None)] and len(result['predictions']) == 2
    assert 'using the mini-world default: CLIP ' + defaults.DEFAULT_CLIP in \
        capsys.readouterr().out


def test_tool_runs(files, tmp_path):
    """python tools/infer.py itself (the thin CLI), once."""
    out = str(tmp_path / 'out')
    env = dict(os.environ, POMP_MM_ALLOW_RANDOM_CLIP='1')
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'infer.py'), 'cls',
         files['images'], '--texts', 'red heart . blue star',
         '--model-name', 'pomp-test-vit', '--clip-checkpoint', files['clip'],
         '--prompt', files['prompt'], '--out-dir', out],
        capture_output=True, text=True, env=env, cwd=str(tmp_path),
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == \
        f'2 image(s), 2 class(es) -> {out}'
    assert f'CLIP {files["clip"]}; prompt {files["prompt"]}' in \
        proc.stdout + proc.stderr
    assert osp.isfile(osp.join(out, 'predictions.json'))
