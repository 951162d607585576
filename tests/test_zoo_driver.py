"""tools/zoo.py and the zoo rendering of tools/results_table.py."""
import json
import os.path as osp

import pytest
import torch

from pomp_mm.benchmarks import cls_transfer
from pomp_mm.benchmarks import zoo as zoo_driver
from pomp_mm.core import FrozenCLIP, save_prompt

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

FAKE = {
    'meta': {'seed': 0, 'test_images': 10, 'command': 'python tools/zoo.py'},
    'methods': {'zeroshot': 'hand template', 'coop': 'CoOp',
                'linear_probe': 'linear probe'},
    'kinds': {'zeroshot': 'zero-shot', 'coop': 'trained',
              'linear_probe': 'closed-set'},
    'b2n': {'zeroshot': {'base': 80.0, 'novel': 60.0},
            'coop': {'base': 90.0, 'novel': 45.0},
            'linear_probe': {'base': 70.0, 'novel': None}},
    'fewshot': {'zeroshot': {'1': 80.0, '2': 80.0, '16': 80.0},
                'coop': {'1': 70.0, '2': 75.5, '16': 95.25}},
    'xd': {'zeroshot': 50.0, 'coop': 40.0, 'linear_probe': None},
    'dg': {'zeroshot': 30.0, 'coop': 35.0, 'linear_probe': 20.0},
    'retrieval': {'i2t/retrieval/Recall@1': 12.5,
                  'i2t/retrieval/Recall@5': 50.0,
                  'i2t/retrieval/Recall@10': 75.0,
                  't2i/retrieval/Recall@1': 25.0,
                  't2i/retrieval/Recall@5': 62.5,
                  't2i/retrieval/Recall@10': 100.0},
    'wise_alphas': {'0': {'base': 80.0, 'novel': 60.0, 'dg': 30.0},
                    '1': {'base': 96.0, 'novel': 24.0, 'dg': 10.0}},
}


def _rows(text, heading):
    """The table rows under a ``### heading`` as lists of cells."""
    part = text.split(heading, 1)[1].split('###', 1)[0]
    return [[c.strip() for c in line.strip('|').split('|')]
            for line in part.splitlines() if line.startswith('| ')][1:]


def test_zoo_tables_from_a_results_dict():
    tables = cls_transfer
    text = tables.zoo_tables(FAKE)
    b2n = _rows(text, '### Base-to-novel')
    # H = 2ab / (a + b), by hand: 2*80*60/140 = 68.57; 2*90*45/135 = 60.0
    assert b2n == [['hand template', '80.0', '60.0', '68.6'],
                   ['CoOp', '90.0', '45.0', '60.0'],
                   ['linear probe', '70.0', '–', '–']]
    shots = _rows(text, '### Few-shot')
    assert shots[1] == ['CoOp', '70.0', '75.5', '95.2']
    assert '| method | 1 shot | 2 shots | 16 shots |' in text
    transfer = _rows(text, '### Cross-dataset')
    assert transfer[2] == ['linear probe', '70.0', '–', '20.0']
    retrieval = _rows(text, '### Zero-shot image-text retrieval')
    assert retrieval == [['image → text', '12.5', '50.0', '75.0'],
                         ['text → image', '25.0', '62.5', '100.0']]
    alphas = _rows(text, '### WiSE-FT')
    # 2*96*24/120 = 38.4
    assert alphas[1] == ['1.00', '96.0', '24.0', '38.4', '10.0']
    assert 'Seed 0, 10 test images per class' in text


def test_zoo_subcommand_writes_tables_and_shots_plot(tmp_path):
    tables = cls_transfer
    results = tmp_path / 'results.json'
    results.write_text(json.dumps(FAKE))
    out, plot = tmp_path / 'zoo.md', tmp_path / 'shots.png'
    text = tables.main(['zoo', '--results', str(results), '--out', str(out),
                        '--plot', str(plot)])
    assert out.read_text() == text
    png = plot.read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
    bad = tmp_path / 'bad.json'
    bad.write_text('{"b2n": {}}')
    with pytest.raises(SystemExit) as e:
        tables.main(['zoo', '--results', str(bad)])
    assert 'not a tools/zoo.py results file' in str(e.value.code)


def test_every_method_has_a_config_and_a_kind():
    zoo = zoo_driver
    assert {'zeroshot', 'pomp', 'linear_probe', 'coop', 'coop_pomp',
            'cocoop', 'kgcoop', 'maple', 'vp', 'clip_adapter',
            'tip_adapter', 'tip_adapter_f', 'wise_ft'} <= set(zoo.METHODS)
    for key, method in zoo.METHODS.items():
        assert method.kind in ('zero-shot', 'trained', 'closed-set'), key
        assert method.config.startswith('configs/zoo/'), key


def test_missing_config_and_prompt_are_one_line_errors(tmp_path,
                                                       monkeypatch):
    zoo = zoo_driver
    monkeypatch.setitem(zoo.METHODS, 'vp', zoo.Method(
        'VP', 'configs/zoo/vp/nowhere.py'))
    with pytest.raises(SystemExit) as e:
        zoo.main(['--methods', 'vp', '--work-dir', str(tmp_path)])
    assert str(e.value.code) == (
        'zoo.py: error: method vp: config configs/zoo/vp/nowhere.py does '
        'not exist (that part of the zoo is not built here); choose others '
        'with --methods')
    with pytest.raises(SystemExit) as e:
        zoo.main(['--methods', 'pomp', '--work-dir', str(tmp_path),
                  '--out-dir', str(tmp_path), '--protocols', 'b2n',
                  '--pomp-prompt', str(tmp_path / 'none.pth'),
                  '--clip', str(tmp_path / 'none.pt')])
    assert 'CLIP checkpoint' in str(e.value.code) and \
        'does not exist' in str(e.value.code)


@pytest.mark.slow
def test_quick_run_end_to_end_and_reuse(tmp_path, capsys):
    """A tiny real run: every protocol, a zero-shot, a cache, a closed-set
    and a prompt-tuned method (POMP init), then a second run that reuses."""
    torch.manual_seed(0)
    clip = FrozenCLIP('pomp-tiny-vit')  # 64 px, the mini-world's size
    weights = str(tmp_path / 'clip.pt')
    torch.save(clip.model.state_dict(), weights)
    prompt = str(tmp_path / 'prompt.pth')
    save_prompt(prompt, torch.randn(4, 64) * 0.02)
    zoo = zoo_driver
    argv = ['--quick', '--methods', 'zeroshot', 'tip_adapter',
            'linear_probe', 'coop_pomp', '--shots', '1', '8',
            '--clip', weights, '--clip-model', 'pomp-tiny-vit',
            '--pomp-prompt', prompt, '--wise-alphas',
            '--work-dir', str(tmp_path / 'work'),
            '--out-dir', str(tmp_path / 'out')]
    results = zoo.main(argv)
    assert set(results['b2n']) == {'zeroshot', 'tip_adapter',
                                   'linear_probe', 'coop_pomp'}
    assert results['b2n']['linear_probe']['novel'] is None
    assert results['xd']['linear_probe'] is None
    for key in ('zeroshot', 'tip_adapter', 'coop_pomp'):
        assert 0 <= results['b2n'][key]['novel'] <= 100
        assert 0 <= results['xd'][key] <= 100
    # the 8-shot column is the base-to-novel model's base accuracy
    for key, row in results['fewshot'].items():
        assert list(row) == ['1', '8']
        assert row['8'] == results['b2n'][key]['base']
    zs = results['fewshot']['zeroshot']
    assert zs['1'] == zs['8']  # zero-shot does not depend on shots
    assert set(results['retrieval']) == {
        f'{d}/retrieval/Recall@{k}' for d in ('i2t', 't2i')
        for k in (1, 5, 10)}
    out = tmp_path / 'out'
    saved = json.loads((out / 'results.json').read_text())
    assert saved['b2n'] == results['b2n']
    assert (out / 'zoo_shots.png').stat().st_size > 5000
    assert '| Tip-Adapter (training-free) |' in (out / 'results.md'
                                                 ).read_text()
    run = tmp_path / 'work' / 'tip_adapter' / 'shots8_seed0_quick'
    assert (run / 'epoch_0.pth').is_file()
    capsys.readouterr()
    again = zoo.main(argv)
    printed = capsys.readouterr().out
    assert '-shot: training' not in printed
    assert printed.count('-shot: reusing') == 6
    assert again['b2n'] == results['b2n']
    assert again['fewshot'] == results['fewshot']


@pytest.mark.parametrize('method,shots,quick,expected', [
    # more shots than 8: as many steps as the 8-shot run, schedule with it
    ('coop', 16, False, ['train_cfg.max_epochs=5',
                         'param_scheduler.0.T_max=5']),
    ('coop', 4, False, []),
    ('coop', 16, True, ['train_cfg.max_epochs=1',
                        'param_scheduler.0.T_max=1']),
    ('tip_adapter', 16, False, []),  # training-free: stays at 0 epochs
    ('tip_adapter_f', 16, False, ['train_cfg.max_epochs=10',
                                  'param_scheduler.0.T_max=10']),
])
def test_training_options_per_run(method, shots, quick, expected):
    zoo = zoo_driver
    args = zoo.parse_args(['--quick'] if quick else [])
    opts = zoo.Zoo(args).train_options(zoo.METHODS[method].config, shots)
    assert opts[0] == f'train_dataloader.dataset.images_per_class={shots}'
    assert [o for o in opts if 'epochs=' in o or 'T_max' in o] == expected
    assert 'default_hooks.checkpoint.interval=100000' in opts


def test_clip_override_reaches_every_clip_and_linear_head(tmp_path):
    zoo = zoo_driver
    weights = tmp_path / 'clip.pt'
    weights.write_bytes(b'x')  # only its existence is checked here
    args = zoo.parse_args(['--clip', str(weights), '--clip-model',
                           'pomp-tiny-vit'])
    opts = zoo.Zoo(args).common_options(zoo.METHODS['linear_probe'].config)
    assert f'model.backbone.clip.checkpoint={weights}' in opts
    assert 'model.backbone.clip.model_name=pomp-tiny-vit' in opts
    assert 'model.head.in_channels=64' in opts  # pomp-tiny-vit's embed dim
    opts = zoo.Zoo(args).common_options(zoo.METHODS['coop'].config)
    assert 'model.prompt_learner.clip.model_name=pomp-tiny-vit' in opts


def test_zoo_reads_the_prompt_where_miniworld_writes_it():
    """The zoo's default POMP prompt is the file tools/miniworld.py writes
    with its defaults (training seed 0), also the inferencers' default: a
    stale path made `tools/zoo.py` stop after `tools/miniworld.py`."""
    from mmengine.config import Config

    from pomp_mm.benchmarks.miniworld import driver
    from pomp_mm.benchmarks.miniworld.defaults import DEFAULT_PROMPT
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, 'configs/zoo/_base_/'
                                   'miniworld_b2n.py'))
    args = driver.build_parser().parse_args([])
    written = osp.join(driver.seed_dir(args, 0), 'pomp', 'prompt_latest.pth')
    assert osp.abspath(cfg.pomp_prompt) == written == osp.abspath(
        DEFAULT_PROMPT)
