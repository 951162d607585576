"""tools/benchmark.py: workload, summaries and a quick end-to-end run."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from pomp_mm.benchmarks import speed

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'benchmark.py')


@pytest.fixture(scope='module')
def bench():
    return speed


def test_names_are_distinct_with_imagenet21k_like_lengths(bench):
    from open_clip.tokenizer import _tokenizer
    names = bench.imagenet21k_like_names(500, seed=1)
    assert len(set(names)) == 500
    assert names == bench.imagenet21k_like_names(500, seed=1)
    assert names != bench.imagenet21k_like_names(500, seed=2)
    words = [len(n.split()) for n in names]
    assert min(words) == 1 and max(words) <= 6
    assert 0.3 < sum(w == 1 for w in words) / 500 < 0.5
    tokens = [len(_tokenizer.encode(n)) for n in names]
    stats = bench.name_length_stats(names)
    assert stats['mean_tokens'] == pytest.approx(sum(tokens) / 500, abs=1e-3)
    assert 2.0 < stats['mean_tokens'] < 4.5  # ImageNet-1K names: 2.2


def test_rel_diff(bench):
    b = torch.tensor([1.0, -4.0, 2.0])
    assert bench.rel_diff(b, b) == 0
    assert bench.rel_diff(b + torch.tensor([0, 0.004, 0]), b) == \
        pytest.approx(1e-3, rel=1e-4)


def test_measure_reports_peak_of_the_step(bench):
    """In a fresh process (as the tool runs every case), a step that
    touches 64 MB reports a peak of about 64 MB."""
    if not bench._reset_peak():
        pytest.skip('/proc/self/clear_refs is not writable here')
    code = ('import json, torch\n'
            'from pomp_mm.benchmarks import speed as b\n'
            'def step():\n'
            '    torch.ones(64 * 2**20 // 4).add_(1)\n'
            'print(json.dumps(b.measure(step, reps=1)))\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 60 < res['peak_mb'] < 140
    assert res['time_s'] >= 0 and res['wall_s'] >= res['time_s'] / 8


def test_summaries_and_goals(bench):
    p = dict(n_ctx=(16, ), plain_prompts=100, total=200)
    rows = [
        dict(n_ctx=16,
             prompts=100,
             path='plain77',
             time_s=30.0,
             peak_mb=1000.0),
        dict(n_ctx=16,
             prompts=100,
             path='truncated',
             time_s=10.0,
             peak_mb=400.0,
             feat_diff=1e-7,
             grad_diff=2e-7),
        dict(n_ctx=16,
             prompts=100,
             path='fast',
             time_s=2.0,
             peak_mb=100.0,
             feat_diff=1e-6,
             grad_diff=3e-6),
        dict(n_ctx=16, prompts=200, path='fast', time_s=3.0, peak_mb=150.0)
    ]
    s = bench.summarize_text(rows, p)['16']
    assert s['speedup'] == 15 and s['mem_ratio'] == 10
    assert s['full_plain_extrapolated']
    assert s['full_speedup'] == pytest.approx(20)  # 60 s / 3 s
    assert s['full_mem_ratio'] == pytest.approx(2000 / 150)
    steps = [
        dict(classes=n, objective=o, path=pa, time_s=t, peak_mb=m)
        for n, o, pa, t, m in ((1000, 'coop', 'plain', 10,
                                100), (1000, 'pomp', 'plain', 10,
                                       100), (1000, 'pomp', 'fast', 1, 10),
                               (21000, 'coop', 'plain', 210,
                                400), (21000, 'pomp', 'plain', 10,
                                       100), (21000, 'pomp', 'fast', 1, 10.4))
    ]
    st = bench.summarize_step(steps)
    assert st['21000']['speedup'] == 210
    assert st['21000']['pomp_mem_vs_smallest'] == pytest.approx(1.04)
    out = dict(text_summary={'16': s},
               step_summary=st,
               zeroshot=dict(ratio=1.02))
    g = bench.goals(out)
    assert g['text_speedup']['met'] and g['text_mem_ratio']['met']
    assert g['step_speedup']['met'] and not g['step_mem_ratio']['met']
    assert g['pomp_mem_growth']['met'] and g['zeroshot_ratio']['met']


ALL_SECTIONS = 'text,step,zeroshot,e2e,image_precision,pipeline,exact,sweep'


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    """One --quick run of every section (the default ones and exact),
    shared by the tests that read it."""
    tmp_path = tmp_path_factory.mktemp('quick')
    out_json, png = tmp_path / 'bench.json', tmp_path / 'bench.png'
    proc = subprocess.run([
        sys.executable, TOOL, '--quick', '--sections', ALL_SECTIONS, '--out',
        str(out_json), '--plot',
        str(png)
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          timeout=600)
    return proc, out_json, png


@pytest.mark.slow
def test_quick_run_end_to_end(quick_run):
    proc, out_json, png = quick_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last == json.loads(out_json.read_text())
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert '(a) text features' in proc.stdout and 'goals:' in proc.stdout
    for key in ('text', 'text_summary', 'step', 'step_summary', 'zeroshot',
                'goals', 'names'):
        assert key in last
    paths = {r['path'] for r in last['text']}
    assert paths == {'plain77', 'truncated', 'fast'}
    for row in last['text']:
        if row['path'] != 'plain77':  # exact paths: float rounding only
            assert row['feat_diff'] < 1e-5 and row['grad_diff'] < 1e-5
    assert last['goals']['text_rel_diff']['met']
    assert {(r['objective'], r['path'])
            for r in last['step']} == {('coop', 'plain'), ('pomp', 'plain'),
                                       ('pomp', 'fast')}
    assert last['zeroshot']['predict_per_image_ms'] > 0


def test_bad_arguments_one_line(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(['--prompts', '100', '--plain-prompts', '200'])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert '--plain-prompts 200' in err and 'expected' in err


# -- issue 21: the whole step, data, image precision, devices -----------------
def test_sections_and_device_arguments_one_line(bench, capsys):
    for argv, words in (
            (['--sections', 'text,nope'], ['--sections nope', 'expected']),
            (['--sections', ','], ['--sections (empty)']),
            (['--step-images', '0'], ['--step-images 0', '>= 1']),
            (['--step-k', '500', '--step-classes', '400'],
             ['--step-k 500', 'fewer than']),
            (['--image-precision', 'fp8'], ['--image-precision fp8']),
            (['--device', 'nodevice'], ["--device 'nodevice'"])):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        err = capsys.readouterr().err.strip().splitlines()[-1]
        for w in words:
            assert w in err, (argv, err)
    args = bench.parse_args([])
    assert args.device == 'cpu' and args.image_precision == ['bf16']
    assert args.sections == ['text', 'step', 'zeroshot', 'e2e',
                             'image_precision', 'pipeline', 'sweep']
    assert args.step_images == 32 and args.step_k == 1000
    assert args.step_classes == 21000


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is present')
def test_accelerator_device_without_one_is_one_line(bench, capsys):
    assert bench.device_problem('cpu') is None
    with pytest.raises(SystemExit):
        bench.parse_args(['--device', 'cuda'])
    err = capsys.readouterr().err.strip().splitlines()
    assert len([ln for ln in err if 'error' in ln]) == 1
    assert "--device 'cuda': no cuda device is available" in err[-1]


def test_gpu_check_stops_in_one_line_without_a_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'gpu_check.sh')], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHON=sys.executable,
                 GPU_CHECK_DIR=str(tmp_path / 'g')))
    assert proc.returncode == 1
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and 'no cuda device' in lines[0], lines
    assert not (tmp_path / 'g').exists()


def test_table_of_a_subset_and_not_measured_goals(bench):
    """A run of some sections prints only those; an unmeasured goal
    reads "not measured" and is neither met nor missed."""
    out = dict(quick=True, isolated=False, threads=1, zeroshot=dict(
        classes=5, tower='t', predict_per_image_ms=1.0,
        encoder_per_image_ms=1.0, ratio=1.0, classifier_build_s=0.1),
        goals={'zeroshot_ratio': dict(value=1.0, goal='<= 1.05', met=True),
               'bf16_acc_delta': dict(value=None, goal='<= 0.3',
                                           met=None)})
    text = bench.table(out)
    assert text.startswith('(c) zero-shot') and '(a)' not in text
    line = [ln for ln in text.splitlines() if 'bf16_acc_delta' in ln][0]
    assert 'not measured' in line and 'met' not in line
    g = bench.goals(dict(out, text_summary={'16': dict(
        prompts=256, speedup=26.0, full_speedup=26.0, full_mem_ratio=9.0,
        feat_diff=1e-7, grad_diff=1e-7)}, threads=2))
    assert g['text_256p_2t'] == dict(value=26.0, goal='>= 25',
                                             met=True)
    g = bench.goals(dict(out, text_summary={'16': dict(
        prompts=128, speedup=26.0, full_speedup=26.0, full_mem_ratio=9.0,
        feat_diff=1e-7, grad_diff=1e-7)}, threads=2))
    assert g['text_256p_2t']['value'] is None


def test_workers_needed():
    from pomp_mm.benchmarks.pipeline import workers_needed
    assert workers_needed(128, 0.25, 512) == 1  # exactly enough
    assert workers_needed(128, 0.25, 511) == 2
    assert workers_needed(128, 0.1, 300) == 5  # 1280 views/s / 300
    assert workers_needed(128, 10, 300) == 1
    with pytest.raises(ValueError, match='must be > 0'):
        workers_needed(128, 0, 300)


def test_generated_jpegs_and_in21k_tree(tmp_path):
    import cv2

    from pomp_mm.benchmarks import pipeline
    from pomp_mm.cls.datasets import ImageNet21K
    paths = pipeline.write_jpegs(str(tmp_path / 'j'), 3, seed=1)
    for p in paths:
        h, w = cv2.imread(p).shape[:2]
        assert pipeline.JPEG_WIDTHS[0] <= w < pipeline.JPEG_WIDTHS[1]
        assert pipeline.JPEG_ASPECT[0] - 0.01 <= h / w <= \
            pipeline.JPEG_ASPECT[1]
    root = pipeline.write_in21k_tree(str(tmp_path / 'in21k'), classes=3,
                                     per_class=2, val_per_class=1)
    ds = ImageNet21K(root, split='train', num_shots=2)
    assert len(ds) == 6 and len(ds.metainfo['classes']) == 3
    assert len(ImageNet21K(root, split='val')) == 3
    with pytest.raises(FileExistsError, match='already'):
        pipeline.write_in21k_tree(root, classes=1)


def test_paper_pipeline_is_the_configs(bench):
    from mmengine.config import Config

    from pomp_mm.benchmarks import pipeline
    cfg = Config.fromfile(osp.join(ROOT, pipeline.PAPER_BASE))
    got = pipeline.paper_train_pipeline(ROOT, 'pillow')
    assert got[0] == dict(cfg.train_pipeline[0], imdecode_backend='pillow')
    assert got[1:] == cfg.train_pipeline[1:]
    views = got[1]
    assert views['num_views'] == 4
    assert [t['type'] for t in views['transforms'][0]] == [
        'RandomResizedCrop', 'RandomFlip', 'RandAugment']


def test_image_precision_casts_the_image_tower_only():
    """bf16 image tower, fp32 text tower: the same as an independent
    open_clip model whose visual part is cast by hand (bf16 weights,
    fp32 LayerNorm); the text side is exactly the fp32 one."""
    import open_clip
    import torch.nn as nn

    from pomp_mm.core import FrozenCLIP
    torch.manual_seed(0)
    clip = FrozenCLIP('pomp-test-vit', allow_random=True,
                      image_precision='bf16')
    ref = open_clip.create_model('pomp-test-vit', pretrained=None)
    ref.load_state_dict({k: v.float() for k, v in
                         clip.model.state_dict().items()})
    ref.eval()
    ref.visual.to(torch.bfloat16)
    for m in ref.visual.modules():
        if isinstance(m, nn.LayerNorm):
            m.float()
    for name, p in clip.model.visual.named_parameters():
        ln = '.ln_' in f'.{name}' or name.startswith('ln_')
        assert p.dtype == (torch.float32 if ln else torch.bfloat16), name
    assert all(p.dtype == torch.float32 for n, p in
               clip.model.named_parameters() if not n.startswith('visual.'))
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        got = clip.encode_image(images)
        want = ref.visual(images.bfloat16())
        assert got.dtype == torch.bfloat16
        assert torch.equal(got, want)
        tokens = clip.tokenizer(['a photo of a dog.'])
        torch.testing.assert_close(clip.encode_text(tokens),
                                   ref.encode_text(tokens), rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(ValueError, match="image_precision 'fp8'"):
        FrozenCLIP('pomp-test-vit', allow_random=True,
                   image_precision='fp8')


def test_e2e_step_official_and_default_are_the_same_step(tmp_path):
    """One real train_step per path on the same views and negatives: the
    77-token path and the default path move ctx the same way (exact paths:
    float rounding, 1e-5 relative as in test_fast_text), and the phases
    add up."""
    from pomp_mm.benchmarks import step
    res, ctx = {}, {}
    for path in ('official', 'default'):
        save = str(tmp_path / f'{path}.pt')
        res[path] = step.case_e2e(dict(
            tower='pomp-test-vit', images=2, views=4, k=6, classes=40,
            n_ctx=4, path=path, image_precision=None, device='cpu', reps=0,
            seed=0, save=save))
        ctx[path] = torch.load(save)
    start = ctx['official']['before']
    assert torch.equal(start, ctx['default']['before'])  # same random init
    assert not torch.equal(ctx['official']['after'], start)  # SGD moved it
    assert speed.rel_diff(ctx['default']['grad'],
                          ctx['official']['grad']) < 1e-5
    for r in res.values():
        assert r['views'] == 8 and r['prompts'] <= 6 + 2
        parts = r['image_s'] + r['text_s'] + r['loss_opt_s'] + r['other_s']
        assert parts == pytest.approx(r['model_step_s'], rel=1e-6) or \
            parts >= r['model_step_s']
        assert r['total_s'] >= r['model_step_s'] and r['data_s'] > 0


@pytest.mark.slow
def test_quick_new_sections(quick_run):
    proc, out_json, _ = quick_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last == json.loads(out_json.read_text())
    for head in ('(d) one full POMP training step', '(e) frozen image',
                 '(f) data pipeline', '(g) fast vs plain', 'goals:'):
        assert head in proc.stdout
    e2e = last['e2e']
    assert [r['path'] for r in e2e['rows']] == ['official', 'default']
    assert e2e['speedup'] == pytest.approx(
        e2e['rows'][0]['model_step_s'] / e2e['rows'][1]['model_step_s'])
    assert set(last['pipeline']['backends']) >= {'cv2', 'pillow'}
    g = last['goals']
    assert g['bf16_acc_delta']['value'] is None
    assert g['bf16_acc_delta']['met'] is None
    assert 'not measured' in proc.stdout
    assert g['exact_fast_fp32']['met']  # fp32 fast path: float rounding
    assert {'e2e_step_speedup', 'lowp_fast_ratio', 'sweep_speedup'} <= set(g)
    # (h) the sweep: every run from the fp32 cache ends at the online ctx
    assert '(h) 4-run prompt sweep' in proc.stdout
    sweep = last['sweep']
    assert [(r['n_ctx'], r['log_base']) for r in sweep['runs']] == \
        [(4, 'e'), (4, 10), (16, 'e'), (16, 10)]
    assert all(r['max_abs_ctx_diff'] == 0 for r in sweep['runs'])
    assert sweep['ratio'] == pytest.approx(
        sweep['online_s'] / sweep['cached_total_s'], abs=0.01)
    assert g['sweep_speedup']['value'] == sweep['ratio']
