"""Shared fixtures: tiny random CLIPs and their weight files (no downloads)."""
import os

import pytest
import torch

# the suite builds random tiny CLIPs on purpose; outside it a missing CLIP
# checkpoint is an error (FrozenCLIP's allow_random). Set before any
# import builds one; subprocesses (the tools) inherit it.
os.environ.setdefault('POMP_MM_ALLOW_RANDOM_CLIP', '1')

import pomp_mm  # noqa: F401  (torchvision CPU repair before any import)
from pomp_mm.core import FrozenCLIP

# The tests run tiny models: one thread is faster than two fighting over a
# busy machine (tiny convolutions ran ~100x faster), and results are stable.
torch.set_num_threads(1)


def _keep_default_scope():
    from mmengine.registry import DefaultScope
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Tests that build runners set MMEngine's global default scope; put it
    back so the next test's registry lookups are not redirected."""
    yield from _keep_default_scope()


@pytest.fixture(autouse=True, scope='module')
def _restore_default_scope_of_module():
    """The same for module-scoped fixtures (a detector trained once per
    module leaves ``mmdet`` as the scope of every later module)."""
    yield from _keep_default_scope()


@pytest.fixture
def mmseg_scope():
    """Build in mmseg's scope whatever default scope earlier tests left
    (segmentation tests use it through ``pytestmark``)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


@pytest.fixture(scope='session')
def tiny_clip():
    """A random 'pomp-test-vit' CLIP (text width 32, embed dim 32)."""
    torch.manual_seed(0)
    return FrozenCLIP('pomp-test-vit')


@pytest.fixture(scope='session')
def clip_weights(tmp_path_factory, tiny_clip):
    """The tiny CLIP's weights saved as an open_clip raw state dict."""
    path = tmp_path_factory.mktemp('clip') / 'pomp-test-vit.pt'
    torch.save(tiny_clip.model.state_dict(), path)
    return str(path)


@pytest.fixture(scope='module')
def prompt(tmp_path_factory):
    """A random (4, 32) prompt file for the 'pomp-test-vit' CLIP, once per
    module (the inference, ONNX and web-demo tests)."""
    from pomp_mm.core.checkpoint import save_prompt
    path = str(tmp_path_factory.mktemp('prompt') / 'prompt.pth')
    torch.manual_seed(3)
    save_prompt(path, torch.randn(4, 32) * 0.02, epoch=1, meta={})
    return path


@pytest.fixture(scope='session')
def scenes(tmp_path_factory):
    """A tiny mini-world scene export: 3 test scenes of 64 px (stars_hearts
    target), shared by the inference and stock-tool tests."""
    from pomp_mm.benchmarks.miniworld.export import export_scenes
    root = str(tmp_path_factory.mktemp('mw') / 'stars_hearts')
    export_scenes(root, 'stars_hearts', [('test', 3)], size=64, seed=5)
    return root


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when nothing passed (all skipped or none collected)."""
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    passed = len(reporter.stats.get('passed', [])) if reporter else 1
    if exitstatus == 0 and passed == 0:
        session.exitstatus = 1
