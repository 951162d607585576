"""Resume that loses nothing: the newest intact checkpoint is found without
``last_checkpoint``, checkpoints are written atomically, a fresh start over
checkpoints and a second run in a locked work dir are refused, and a resume
file that cannot continue the run is told in one line.

One 2-epoch run (random 'pomp-tiny-vit' CLIP, 6 generated classes) makes
the checkpoints; each test works on a copy, in a fresh folder with relative
paths, so the messages are those listed in docs/reliability.md.
"""
import hashlib
import multiprocessing
import errno
import os
import os.path as osp
import resource
import shutil
import signal
import time
from glob import glob
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from pomp_mm.core import save_prompt
from pomp_mm.core.checkpoint_hook import (
    ResumeError,
    check_fits_model,
    list_checkpoints,
    lock_work_dir,
    read_checkpoint,
    unlock_work_dir,
)
from pomp_mm.engine import train as engine_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')


def _options(data, epochs=2):
    gen = 'train_dataloader.dataset.generate_cfg'
    return [
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        f'{gen}.num_classes=6', f'{gen}.train_per_class=4',
        f'{gen}.val_per_class=2', 'train_dataloader.batch_size=8',
        'val_dataloader.batch_size=8', 'test_dataloader.batch_size=8',
        'model.loss.num_classes_per_step=4', f'train_cfg.max_epochs={epochs}',
        'train_cfg.val_interval=100', 'default_hooks.logger.interval=1',
    ]


_LAST_RUN = [0.0]


def _new_second():
    """Wait for the clock's next second if a runner started in this one:
    MMEngine names a run's logger (and log file) by the second it starts,
    and a second runner of that name in one process logs into the first
    one's file."""
    now = time.time()
    if int(now) == int(_LAST_RUN[0]):
        time.sleep(int(now) + 1 - now)
    _LAST_RUN[0] = time.time()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """epoch_1.pth and epoch_2.pth of one run, and its data folder."""
    tmp = tmp_path_factory.mktemp('trained')
    data = str(tmp / 'data')
    _new_second()
    engine_train.main([CONFIG, '--work-dir', str(tmp / 'work'),
                             '--cfg-options', *_options(data)])
    return tmp / 'work', data


@pytest.fixture
def run(trained, tmp_path, monkeypatch):
    """A fresh folder holding ``work/`` with the two checkpoints (no
    ``last_checkpoint``); ``run(*args, epochs=2, options=())`` calls
    tools/train.py (``options``: more ``--cfg-options``)."""
    work, data = trained
    monkeypatch.chdir(tmp_path)
    os.makedirs('work')
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        shutil.copy(work / name, osp.join('work', name))
    train = engine_train

    def call(*args, epochs=2, options=()):
        _new_second()
        return train.main([CONFIG, '--work-dir', 'work', *args,
                           '--cfg-options', *_options(data, epochs),
                           *options])
    call.data = data
    return call


def _exit_message(call, *args, **kwargs) -> str:
    with pytest.raises(SystemExit) as info:
        call(*args, **kwargs)
    message = str(info.value.code)
    assert '\n' not in message
    return message


def _truncate(path):
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:len(data) // 2])


def _log(work='work') -> str:
    """The text of the newest run's log file."""
    logs = sorted(glob(osp.join(work, '2*', '2*.log')), key=osp.getmtime)
    return Path(logs[-1]).read_text(encoding='utf-8')


def _digest(path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _epoch(path) -> int:
    obj, problem = read_checkpoint(path)
    assert problem is None, problem
    return int(obj['meta']['epoch'])


# -- --resume finds the newest intact checkpoint by itself --------------------
NOT_INTACT = ("skipped: checkpoint 'work/epoch_2.pth' is corrupt or truncated"
              ' (no PyTorch data inside)')
LAST_CHECKPOINT = {
    # state of work/last_checkpoint: (content or None, the first log line)
    'missing': (None, "no 'work/last_checkpoint'; looking for the newest "
                "intact checkpoint in 'work'"),
    'empty': (b'', "'work/last_checkpoint' is empty; looking for the newest "
              "intact checkpoint in 'work'"),
    'garbage': (b'\xff\xfe\x00\x81garbage', "'work/last_checkpoint' is not "
                "UTF-8 text; looking for the newest intact checkpoint in "
                "'work'"),
    'gone': (b'work/epoch_7.pth', "last_checkpoint names 'work/epoch_7.pth',"
             " which does not exist; looking for the newest intact "
             "checkpoint in 'work'"),
    'truncated': (b'work/epoch_2.pth', "last_checkpoint names an unusable "
                  "checkpoint (checkpoint 'work/epoch_2.pth' is corrupt or "
                  'truncated (no PyTorch data inside)); looking for the '
                  "newest intact checkpoint in 'work'"),
}


@pytest.mark.parametrize('state', list(LAST_CHECKPOINT))
def test_resume_takes_newest_intact_checkpoint(state, run):
    """epoch_2.pth is cut short (a kill or a full disk while MMEngine wrote
    it in place): the run resumes from epoch_1.pth, says so, and writes a
    complete epoch_2.pth; no traceback for a bad last_checkpoint."""
    content, first = LAST_CHECKPOINT[state]
    _truncate('work/epoch_2.pth')
    if content is not None:
        Path('work/last_checkpoint').write_bytes(content)
    before = _digest('work/epoch_1.pth')
    inodes = {p: os.stat(p).st_ino for p in ('work/epoch_2.pth',
                                             'work/last_checkpoint')
              if osp.exists(p)}
    run('--resume')
    notes = [line.split('train.py: ', 1)[1] for line in
             _log().splitlines() if ' - INFO - train.py: ' in line]
    skipped = [] if state == 'truncated' else [NOT_INTACT]
    assert notes == [first, *skipped, "resuming from 'work/epoch_1.pth', "
                     'the newest intact checkpoint']
    assert 'resumed epoch: 1, iter: 3' in _log()
    assert _digest('work/epoch_1.pth') == before  # not retrained over
    assert _epoch('work/epoch_2.pth') == 2
    assert Path('work/last_checkpoint').read_text() == \
        osp.abspath('work/epoch_2.pth')
    for path, inode in inodes.items():  # replaced by a rename, not
        assert os.stat(path).st_ino != inode, path  # rewritten in place


def test_resume_prefers_a_sound_last_checkpoint(run):
    """last_checkpoint names epoch_1.pth (intact): it wins over the
    higher-numbered epoch_2.pth, as MMEngine would have it."""
    Path('work/last_checkpoint').write_text('work/epoch_1.pth')
    run('--resume', epochs=1)  # already at max_epochs: nothing to train
    assert "train.py: resuming from 'work/epoch_1.pth', named by " \
        "'work/last_checkpoint'" in _log()


class _Payload:
    """Would create the folder ``pwned`` if the file were unpickled."""

    def __reduce__(self):
        return os.mkdir, ('pwned',)


def test_resume_skips_a_checkpoint_that_pickles_code(run):
    """The newest file runs code when unpickled: it is skipped (read
    weights-only, nothing runs) and the run resumes from epoch_2.pth."""
    torch.save({'meta': {'epoch': 3, 'iter': 9}, 'state_dict': {},
                'message_hub': _Payload()}, 'work/epoch_3.pth')
    run('--resume')  # epoch_2.pth is the last epoch: nothing to train
    notes = [line.split('train.py: ', 1)[1] for line in
             _log().splitlines() if ' - INFO - train.py: ' in line]
    # (the wording of the refusal is the weights-only loader's)
    assert notes[1].startswith('skipped: ') and \
        "'work/epoch_3.pth'" in notes[1] and 'posix.mkdir' in notes[1]
    assert notes[2] == ("resuming from 'work/epoch_2.pth', the newest intact"
                        ' checkpoint')
    assert not osp.exists('pwned')


def test_resume_with_only_broken_checkpoints_is_refused(run):
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        _truncate(osp.join('work', name))
    before = [_digest(f'work/epoch_{n}.pth') for n in (1, 2)]
    assert _exit_message(run, '--resume') == (
        "train.py: error: --resume: work dir 'work' holds checkpoints but "
        "none is intact (checkpoint 'work/epoch_2.pth' is corrupt or "
        "truncated (no PyTorch data inside); checkpoint 'work/epoch_1.pth' "
        'is corrupt or truncated (no PyTorch data inside)); remove the '
        'broken files to start over, or choose another work dir')
    assert [_digest(f'work/epoch_{n}.pth') for n in (1, 2)] == before


def test_resume_from_scratch_when_work_dir_is_empty(run):
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        os.remove(osp.join('work', name))
    run('--resume', epochs=1)
    assert "train.py: no checkpoint in 'work': training starts from " \
        'scratch' in _log()
    assert _epoch('work/epoch_1.pth') == 1


# -- a resume file that cannot continue the run -------------------------------
def test_resume_from_a_prompt_file_is_refused(run):
    save_prompt('prompt.pth', torch.zeros(4, 64))
    assert _exit_message(run, '--resume', 'prompt.pth') == (
        "train.py: error: --resume: 'prompt.pth' is a prompt file (the "
        'prompt context only), not a training checkpoint; to start training '
        'from this prompt set model.prompt_learner.prompt_checkpoint='
        'prompt.pth (--cfg-options), or resume from an epoch_N.pth / '
        'iter_N.pth')


@pytest.mark.parametrize('case', ['weights_only', 'missing'])
def test_resume_from_a_file_that_is_no_training_checkpoint(case, run):
    if case == 'weights_only':  # e.g. a published or hand-made state dict
        torch.save({'state_dict': {'prompt_learner.ctx': torch.zeros(4, 64)}},
                   'weights.pth')
        want = ("checkpoint 'weights.pth' is no MMEngine training checkpoint"
                " (it lacks 'meta' with epoch and iter, 'state_dict' or "
                "'message_hub'); expected an epoch_N.pth / iter_N.pth "
                'written by training (to start from weights only, use '
                'load_from without --resume)')
        path = 'weights.pth'
    else:
        want = ("checkpoint 'work/epoch_9.pth' does not exist; expected a "
                'training checkpoint such as work_dirs/x/epoch_3.pth')
        path = 'work/epoch_9.pth'
    assert _exit_message(run, '--resume', path) == \
        f'train.py: error: --resume: {want}'


def test_resume_after_changing_n_ctx_is_refused(run):
    before = _digest('work/epoch_2.pth')
    message = _exit_message(run, '--resume', 'work/epoch_1.pth',
                            options=['model.prompt_learner.n_ctx=8'])
    assert message == (
        "train.py: error: --resume: checkpoint 'work/epoch_1.pth' does not "
        "fit the model: 'prompt_learner.ctx' is (4, 64) in the checkpoint "
        'but (8, 64) in the model; resume with the config it was trained '
        'with, or train the changed config into another work dir')
    assert _digest('work/epoch_2.pth') == before
    assert not osp.exists('work/last_checkpoint')  # nothing ran


# -- no silent start over -----------------------------------------------------
def test_fresh_start_over_checkpoints_is_refused(run):
    Path('work/epoch_10.pth').write_bytes(b'newest by number, not by name')
    before = {p: _digest(p) for p in glob('work/*.pth')}
    assert _exit_message(run) == (
        "train.py: error: work dir 'work' already holds checkpoints (newest:"
        ' work/epoch_10.pth); pass --resume to continue that training or '
        'choose another --work-dir (--overwrite starts over in it)')
    assert {p: _digest(p) for p in glob('work/*.pth')} == before
    assert glob('work/2*') == []  # refused before the runner was built


def test_overwrite_starts_over(run):
    old = _digest('work/epoch_1.pth')
    run('--overwrite', epochs=1)
    assert "train.py: starting over in 'work' (overwrite): its " \
        'checkpoints (newest: work/epoch_2.pth) are overwritten as this run' \
        ' reaches them' in _log()
    assert _digest('work/epoch_1.pth') != old and \
        _epoch('work/epoch_1.pth') == 1


# -- the same under MMEngine's own Runner (no pomp_mm tool) -------------------
def _stock_cfg(data, **kw):
    """The run's config as MMEngine's own tools would build it."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(parser.parse_args(
        ['--cfg-options', *_options(data)]).cfg_options)
    cfg.work_dir = 'work'
    cfg.update(kw)
    return cfg


def test_runner_from_cfg_resumes_and_refuses_like_the_tool(run):
    _truncate('work/epoch_2.pth')
    Path('work/last_checkpoint').write_bytes(b'\x80\x81 not a path')
    _new_second()
    Runner.from_cfg(_stock_cfg(run.data, resume=True)).train()
    log = _log()
    work = osp.abspath('work')
    assert f"SafeCheckpointHook: '{work}/last_checkpoint' is not UTF-8 " \
        f"text; looking for the newest intact checkpoint in '{work}'" in log
    assert f"SafeCheckpointHook: resuming from '{work}/epoch_1.pth', the " \
        'newest intact checkpoint' in log
    assert _epoch('work/epoch_2.pth') == 2
    runner = Runner.from_cfg(_stock_cfg(run.data))
    with pytest.raises(ResumeError) as info:
        runner.train()
    assert str(info.value) == (
        f"work dir '{work}' already holds checkpoints (newest: {work}/"
        'epoch_2.pth); pass --resume to continue that training or choose '
        'another --work-dir (--cfg-options default_hooks.checkpoint.'
        'overwrite=True starts over in it)')


# -- atomic writes ------------------------------------------------------------
def test_failed_save_keeps_every_checkpoint(run):
    """The disk fills while epoch_2.pth is rewritten (RLIMIT_FSIZE: writes
    past 4 MB fail, as on a full disk): epoch_2.pth keeps its old content,
    epoch_1.pth (the oldest with max_keep_ckpts=1) is not deleted before
    the new file is complete, last_checkpoint is untouched, no temp file
    is left."""
    Path('work/last_checkpoint').write_text('work/epoch_2.pth')
    size = osp.getsize('work/epoch_2.pth')
    assert size > 8 * 2**20  # the limit below falls inside it
    before = {p: _digest(p) for p in glob('work/*') if osp.isfile(p)}
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 2**20, hard))
        with pytest.raises(SystemExit) as info:  # one line, exit 1
            run('--resume', 'work/epoch_1.pth',
                options=['default_hooks.checkpoint.max_keep_ckpts=1'])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    after = {p: _digest(p) for p in before if osp.isfile(p)}
    assert after == before
    assert sorted(glob('work/*.pth')) == [
        'work/epoch_1.pth', 'work/epoch_2.pth', 'work/prompt_epoch_2.pth',
        'work/prompt_latest.pth']  # (the prompt files come before it)
    assert not [n for n in os.listdir('work') if n.endswith('.tmp')]
    assert str(info.value) == (
        f'train.py: error: [Errno {errno.EFBIG}] cannot write '
        f'{osp.abspath("work/epoch_2.pth")}: {os.strerror(errno.EFBIG)}; '
        'expected a folder with free space that this user can write (an '
        'existing file is left as it was)')


# -- one training per work dir ------------------------------------------------
def _hold_lock(work_dir, locked):
    """In a forked child: take the work dir's lock, then wait."""
    lock_work_dir(work_dir)
    locked.set()
    time.sleep(120)


def test_second_training_in_a_locked_work_dir_is_refused(run):
    ctx = multiprocessing.get_context('fork')  # no re-import: fast
    locked = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=('work', locked))
    holder.start()
    try:
        assert locked.wait(60)
        assert _exit_message(run, '--resume') == (
            "train.py: error: work dir 'work' is in use by another training "
            f"(pid {holder.pid} holds 'work/.lock'); wait for it to finish "
            'or choose another --work-dir')
        assert not osp.exists('work/last_checkpoint')  # nothing ran
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock
        holder.join()
    run('--resume')  # the stale lock file does not block
    assert "resuming from 'work/epoch_2.pth'" in _log()


def test_lock_is_reentrant_and_released(tmp_path):
    work = str(tmp_path / 'w')
    assert lock_work_dir(work) is True
    try:
        assert lock_work_dir(work) is False  # this process holds it
        assert Path(work, '.lock').read_text() == f'{os.getpid()}\n'
    finally:
        unlock_work_dir(work)
    assert lock_work_dir(work) is True
    unlock_work_dir(work)


def test_checkpoints_are_listed_newest_first(tmp_path):
    for name in ('epoch_2.pth', 'epoch_10.pth', 'iter_50.pth',
                 'best_accuracy_epoch_9.pth', '.epoch_11.pth.abc.tmp',
                 'epoch_x.pth', 'prompt_epoch_12.pth'):
        (tmp_path / name).write_bytes(b'')
    assert [osp.basename(p) for p in list_checkpoints(str(tmp_path))] == [
        'epoch_10.pth', 'epoch_2.pth', 'iter_50.pth']
    assert [osp.basename(p) for p in
            list_checkpoints(str(tmp_path), 'iter_{}.pth')] == [
        'iter_50.pth', 'epoch_10.pth', 'epoch_2.pth']


def test_checkpoint_of_another_model_is_refused(tmp_path):
    """No key in common: MMEngine (strict=False) would resume nothing."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model[0].bias.requires_grad_(False)
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'meta': {'epoch': 1, 'iter': 3}, 'message_hub': {},
                'state_dict': {'head.weight': torch.zeros(2, 2)}}, path)
    with pytest.raises(ResumeError) as info:
        check_fits_model(path, model)
    assert str(info.value) == (
        f"checkpoint {path!r} does not fit the model: it lacks the learned "
        "parameter '0.weight'; resume with the config it was trained with, "
        'or train the changed config into another work dir')
