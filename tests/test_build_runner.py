"""pomp_mm.core.utils.build_runner: runners built in one second of one
process keep their own logger, message hub and visualizer.

The CI of an earlier commit failed here: the feature-cache tests build two
caches back to back; on a fast machine both runners started in the same
second, MMEngine handed the second the first's visualizer, and it wrote its
config into the first build's deleted temp folder (``FileNotFoundError``).
The clock of ``mmengine.runner.runner`` is frozen below, so the collision
happens on every machine, not only on fast ones.
"""
import os.path as osp
import shutil
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from mmengine.runner import Runner

from pomp_mm.core.utils import build_runner


@MODELS.register_module(name='PompBuildRunnerToy', force=True)
class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, *args, mode='tensor', **kwargs):
        return self.w


class _FrozenClock:
    """``time`` as ``mmengine.runner.runner`` sees it: one second forever
    (each test its own second, so no test meets another's instances)."""

    def __init__(self, second):
        self.second = second

    def __getattr__(self, name):
        return getattr(time, name)

    def time(self):
        return self.second + 0.25


def _cfg(work_dir):
    return Config(dict(model=dict(type='PompBuildRunnerToy'),
                       work_dir=str(work_dir), log_level='WARNING'))


def test_runners_of_one_second_keep_their_own_logs(tmp_path, monkeypatch):
    import mmengine.runner.runner as runner_module
    monkeypatch.setattr(runner_module, 'time', _FrozenClock(1_700_000_000))
    cfg_a = _cfg(tmp_path / 'a')
    first = build_runner(cfg_a)
    shutil.rmtree(tmp_path / 'a')  # as a finished cache build does
    second = build_runner(_cfg(tmp_path / 'b'))
    assert second.timestamp == first.timestamp  # the same second
    assert second.experiment_name != first.experiment_name
    assert second.logger is not first.logger
    assert second.message_hub is not first.message_hub
    assert second.visualizer is not first.visualizer
    ts = second.timestamp
    assert osp.isfile(tmp_path / 'b' / ts / 'vis_data' / 'config.py')
    files = [h.baseFilename for h in second.logger.handlers
             if hasattr(h, 'baseFilename')]
    assert files == [str(tmp_path / 'b' / ts / f'{ts}.log')]
    assert 'experiment_name' not in cfg_a  # the caller's config unchanged


def test_stock_runner_of_the_same_second_fails_as_ci_did(tmp_path,
                                                         monkeypatch):
    """What build_runner avoids (MMEngine 0.10.7): the stock route hands
    the second runner the first's visualizer."""
    import mmengine.runner.runner as runner_module
    monkeypatch.setattr(runner_module, 'time', _FrozenClock(1_700_000_100))
    Runner.from_cfg(_cfg(tmp_path / 'a'))
    shutil.rmtree(tmp_path / 'a')
    with pytest.raises(FileNotFoundError, match='vis_data'):
        Runner.from_cfg(_cfg(tmp_path / 'b'))
