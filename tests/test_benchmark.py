"""tools/benchmark.py: workload, summaries and a quick end-to-end run."""
import json
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


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    out_json, png = tmp_path / 'bench.json', tmp_path / 'bench.png'
    proc = subprocess.run([
        sys.executable, TOOL, '--quick', '--out',
        str(out_json), '--plot',
        str(png)
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          timeout=600)
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
