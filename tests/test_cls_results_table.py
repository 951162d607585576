"""tools/results_table.py: real tiny runs -> metric files -> table + plot."""
import csv
import json
import os.path as osp

import pytest
import torch

from pomp_mm.benchmarks import cls_transfer, report
from pomp_mm.core import save_prompt
from test_cls_data import make_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


TINY = [
    'test_dataloader.dataset.pipeline.1.scale=32',
    'test_dataloader.dataset.pipeline.2.crop_size=32',
    'test_dataloader.batch_size=4', 'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False', 'test_evaluator.topk=[1]',
    'log_level=WARNING'
]


@pytest.mark.slow
def test_run_then_table_from_real_metric_files(tmp_path, clip_weights):
    tool = cls_transfer
    _run_and_table(tool, tmp_path, clip_weights)


def _run_and_table(tool, tmp_path, clip_weights):
    data = tmp_path / 'data'
    make_dataset('dtd', str(data / 'dtd'))
    make_dataset('eurosat', str(data / 'eurosat'))
    prompt = str(tmp_path / 'prompt.pth')
    save_prompt(prompt, torch.randn(4, 32) * 0.02)
    metrics_dir = str(tmp_path / 'metrics')
    common = [
        '--datasets', 'dtd', 'eurosat', '--data-root',
        str(data), '--metrics-dir', metrics_dir, '--work-dir',
        str(tmp_path / 'work')
    ]
    pomp = tool.main([
        'run', '--method', 'POMP', '--config-dir',
        osp.join(ROOT, 'configs', 'cls',
                 'pomp'), '--prompt', prompt, *common, '--cfg-options', *TINY,
        'model.prompt_learner.clip.model_name=pomp-test-vit',
        f'model.prompt_learner.clip.checkpoint={clip_weights}'
    ])
    clip = tool.main([
        'run', '--method', 'CLIP', '--config-dir',
        osp.join(ROOT, 'configs', 'cls', 'clip'), *common, '--cfg-options',
        *TINY, 'model.clip.model_name=pomp-test-vit',
        f'model.clip.checkpoint={clip_weights}'
    ])
    assert set(pomp) == set(clip) == {'dtd', 'eurosat'}
    for method, runs in (('POMP', pomp), ('CLIP', clip)):
        for name, metrics in runs.items():
            path = osp.join(metrics_dir, method, f'{name}.json')
            assert json.load(open(path)) == pytest.approx(metrics)

    out = str(tmp_path / 'table' / 'cls')
    text = tool.main([
        'table', '--metrics-dir', metrics_dir, '--methods', 'POMP', 'CLIP',
        '--out', out
    ])
    rows = list(csv.reader(open(out + '.csv')))
    assert rows[0] == ['method', 'DTD', 'EuroSAT', 'cross-dataset mean (10)']
    for row, runs in zip(rows[1:], (pomp, clip)):
        assert float(row[1]) == pytest.approx(runs['dtd']['accuracy/top1'],
                                              abs=0.005)
        assert float(row[2]) == pytest.approx(runs['eurosat']['accuracy/top1'],
                                              abs=0.005)
        assert row[3] == ''  # 2 of 10 datasets: no mean
    assert '| POMP |' in text and open(out + '.md').read() == text
    png = open(out + '.png', 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000


def test_paper_averages(tmp_path):
    tool = cls_transfer
    values = {}
    for i, name in enumerate(report.ALL_DATASETS):
        values[name] = 50.0 + i
        folder = tmp_path / 'm' / 'POMP'
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f'{name}.json').write_text(
            json.dumps({
                'accuracy/top1': values[name],
                'accuracy/top5': 99.0
            }))
    data = report.read_metrics(str(tmp_path / 'm'), 'accuracy/top1')
    header, rows = report.build_rows(data)
    row = dict(zip(header, rows[0]))
    xd = sum(values[n] for n in report.CROSS_DATASET) / 10
    dg = sum(values[n] for n in ('imagenet_a', 'imagenet_r', 'imagenet_sketch',
                                 'imagenetv2')) / 4
    assert row['cross-dataset mean (10)'] == pytest.approx(xd)
    assert row['cross-domain mean (4)'] == pytest.approx(dg)
    assert row['ImageNet'] == values['imagenet']
    assert header.index('UCF101') < header.index('cross-dataset mean (10)') \
        < header.index('ImageNet') < header.index('ImageNet-V2') \
        < header.index('cross-domain mean (4)')


def test_bad_metric_file_is_one_line(tmp_path):
    tool = cls_transfer
    folder = tmp_path / 'm' / 'CLIP'
    folder.mkdir(parents=True)
    (folder / 'dtd.json').write_text('{"loss": 1.0}')
    with pytest.raises(SystemExit) as e:
        tool.main([
            'table', '--metrics-dir',
            str(tmp_path / 'm'), '--out',
            str(tmp_path / 'x')
        ])
    assert "dtd.json: no key 'accuracy/top1'" in str(e.value.code)
    with pytest.raises(SystemExit) as e:
        tool.main([
            'run', '--method', 'X', '--config-dir',
            osp.join(ROOT, 'configs', 'cls', 'pomp'), '--datasets', 'mnist'
        ])
    assert 'no config mnist.py' in str(e.value.code)
