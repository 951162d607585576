"""Every bad input of the issue gives ONE line naming the file/key/value and
what was expected; nothing already written is lost.

Each case runs in a fresh folder with relative paths, so the messages are
exactly those listed in docs/reliability.md (a test checks that).
"""
import errno
import json
import logging
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pomp_mm.benchmarks import cls_transfer
from pomp_mm.core import (
    FrozenCLIP,
    PompLoss,
    PompPromptLearner,
    load_classnames,
    load_prompt_ctx,
    save_prompt,
)
from pomp_mm.cls.model import read_names
from pomp_mm.core import read_vocabulary
from pomp_mm.core.checkpoint import atomic_torch_save, atomic_write_text
from pomp_mm.datasets import names_for_keys
from pomp_mm.datasets import ClassFolderDataset
from pomp_mm.engine import test as engine_test
from pomp_mm.engine import train as engine_train
from pomp_mm.utils import cli

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')
DOCS = osp.join(ROOT, 'docs', 'reliability.md')
PIPELINE = [{'type': 'LoadImageFromFile'}, {'type': 'PackInputs'}]


def _write(path, data):
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    mode = 'wb' if isinstance(data, bytes) else 'w'
    with open(path, mode) as f:
        f.write(data)


def _rgb(path, size=8):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new('RGB', (size, size), (90, 120, 30)).save(path)


def _dataset(**kw):
    return ClassFolderDataset(data_root='data', pipeline=PIPELINE, **kw)


# -- the cases: (trigger, exception type, exact message) ----------------------
def class_file_missing(clip):
    load_classnames('classes.txt')


def class_file_empty(clip):
    _write('classes.txt', '')
    load_classnames('classes.txt')


def class_file_duplicate(clip):
    _write('classes.txt', 'cat\ndog\ncat\n')
    load_classnames('classes.txt')


def class_name_too_long(clip):
    name = 'an extremely long and detailed class name ' * 11
    PompPromptLearner(clip, vocabulary=['cat', name.strip()], n_ctx=4)


def vocabulary_empty(clip):
    PompPromptLearner(clip, vocabulary=[], n_ctx=4)


def k_larger_than_n(clip):
    PompLoss(num_classes_per_step=10).sample(6)


def ctx_width_mismatch(clip):
    save_prompt('prompt.pth', torch.zeros(4, 16))
    PompPromptLearner(clip, prompt_checkpoint='prompt.pth')


def n_ctx_mismatch(clip):
    save_prompt('prompt.pth', torch.zeros(4, 32))
    PompPromptLearner(clip, n_ctx=16, prompt_checkpoint='prompt.pth')


def checkpoint_corrupt(clip):
    _write('prompt.pth', b'this is not a checkpoint')
    load_prompt_ctx('prompt.pth')


def checkpoint_truncated(clip):
    save_prompt('full.pth', torch.zeros(4, 32))
    data = Path('full.pth').read_bytes()
    _write('prompt.pth', data[:len(data) // 2])
    load_prompt_ctx('prompt.pth')


def checkpoint_without_ctx(clip):
    torch.save({'state_dict': {'weight': torch.zeros(3)}, 'epoch': 1},
               'prompt.pth')
    load_prompt_ctx('prompt.pth')


def checkpoint_with_pickled_code(clip):
    torch.save({'state_dict': {'ctx': torch.zeros(4, 32)},
                'hook': _Payload()}, 'prompt.pth')
    load_prompt_ctx('prompt.pth')


def clip_wrong_architecture(clip):
    torch.save(clip.model.state_dict(), 'clip.pt')  # a 'pomp-test-vit'
    FrozenCLIP('pomp-tiny-vit', checkpoint='clip.pt')


def dataset_root_missing(clip):
    _dataset()


def class_folder_without_images(clip):
    _rgb('data/cat/0.png')
    _write('data/dog/notes.txt', 'no images here')
    _dataset()


def image_unreadable(clip):
    _rgb('data/cat/0.png')
    _write('data/dog/0.jpg', b'\xff\xd8 not really a jpeg')
    _dataset()[1]


def cfg_options_typo(clip):
    engine_train.main([CONFIG, '--work-dir', 'work', '--cfg-options',
                             'model.loss.num_clases_per_step=3'])


def config_missing(clip):
    engine_train.main(['configs/nope.py'])


def resume_truncated(clip):
    torch.save({'meta': {}, 'state_dict': {}}, 'full.pth')
    data = Path('full.pth').read_bytes()
    _write('work/epoch_1.pth', data[:len(data) // 2])
    engine_train.main([CONFIG, '--work-dir', 'work', '--resume',
                             'work/epoch_1.pth'])


def truncated_checkpoint_to_test_py(clip):
    save_prompt('full.pth', torch.zeros(4, 32))
    data = Path('full.pth').read_bytes()
    _write('prompt.pth', data[:len(data) // 2])
    engine_test.main([CONFIG, 'prompt.pth', '--work-dir', 'work'])


def _fail_writes(code):
    """The work-dir probe write fails with ``code`` (root ignores chmod)."""
    def fake_open(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), path)
    return fake_open


def work_dir_read_only(clip, monkeypatch):
    monkeypatch.setattr(cli, 'open', _fail_writes(errno.EROFS),
                        raising=False)
    engine_train.main([CONFIG, '--work-dir', 'work'])


def work_dir_out_of_disk(clip, monkeypatch):
    monkeypatch.setattr(cli, 'open', _fail_writes(errno.ENOSPC),
                        raising=False)
    engine_train.main([CONFIG, '--work-dir', 'work'])


class _Payload:
    """Would create the folder ``pwned`` if the file were unpickled."""

    def __reduce__(self):
        return os.mkdir, ('pwned',)


# A class file gets the checks a list of names gets; it is UTF-8 (a leading
# byte-order mark is dropped, not kept inside the first name).
def class_name_only_underscore(clip):
    _write('classes.txt', 'cat\n_\n')
    load_classnames('classes.txt')


def class_names_same_once_cleaned(clip):
    _write('classes.txt', 'red_circle\nred circle\n')
    load_classnames('classes.txt')


def class_file_latin1(clip):
    _write('classes.txt', 'cat\ncafé\n'.encode('latin-1'))
    load_classnames('classes.txt')


def class_file_bom_then_duplicate(clip):
    _write('classes.txt', '\ufeffcat\ndog\ncat\n'.encode('utf-8'))
    load_classnames('classes.txt')


# Configs: one line naming the file (and the line), nothing built.
def config_not_python(clip):
    _write('config.py', 'model:\n  type: PromptCLIPClassifier\n')
    engine_train.main(['config.py', '--work-dir', 'work'])


def config_syntax_error(clip):
    _write('config.py', "n_ctx = 4\nmodel = dict(type='PromptCLIPClassifier'"
           '\n')
    engine_train.main(['config.py', '--work-dir', 'work'])


def config_error_in_its_code(clip):
    _write('config.py', "n_ctx = 4\nmodel = dict(type='PromptCLIPClassifier',"
           ' n_ctx=nctx)\n')
    engine_train.main(['config.py', '--work-dir', 'work'])


def config_base_missing(clip):
    _write('config.py', "_base_ = ['base.py']\n"
           "model = dict(type='PromptCLIPClassifier')\n")
    engine_train.main(['config.py', '--work-dir', 'work'])


def config_wrong_extension(clip):
    save_prompt('prompt.pth', torch.zeros(4, 32))
    engine_test.main(['prompt.pth', CONFIG, '--work-dir', 'work'])


# --cfg-options values of the config's type, refused before building.
def _train_with(option):
    engine_train.main([CONFIG, '--work-dir', 'work', '--cfg-options',
                             option])


def cfg_options_k_not_a_number(clip):
    _train_with('model.loss.num_classes_per_step=abc')


def cfg_options_k_fraction(clip):
    _train_with('model.loss.num_classes_per_step=2.5')


def cfg_options_n_ctx_fraction(clip):
    _train_with('model.prompt_learner.n_ctx=2.5')


def cfg_options_int_for_bool(clip):
    _train_with('model.loss.correction=1')


def out_is_a_directory(clip):
    os.makedirs('metrics.json')
    # --out FILE.json: the deprecated spelling of --out-metrics
    engine_test.main([CONFIG, '--out', 'metrics.json', '--work-dir',
                            'work'])


class _FullDisk:
    """A file on a disk with ``room`` bytes left: a larger write raises
    ``error`` inside whatever writes (torch.save's zip writer here)."""

    def __init__(self, f, room, error):
        self.f, self.room, self.error = f, room, error

    def write(self, data):
        size = memoryview(data).nbytes
        if size > self.room:
            raise self.error
        self.room -= size
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


def _fill_disk(monkeypatch, error, room=1000):
    """Files atomic_write opens get only ``room`` bytes."""
    fdopen = os.fdopen
    monkeypatch.setattr(os, 'fdopen', lambda fd, mode: _FullDisk(
        fdopen(fd, mode), room, error))


def prompt_onto_a_full_disk(clip, monkeypatch):
    _fill_disk(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    save_prompt('prompt.pth', torch.zeros(4, 32))


def prompt_onto_a_full_disk_without_errno(clip, monkeypatch):
    _fill_disk(monkeypatch, OSError('disk quota exceeded, 64000 bytes '
                                    'requested'))
    save_prompt('prompt.pth', torch.zeros(4, 32))


def metric_not_a_number(clip):
    _write('metrics/POMP/dtd.json', '{"accuracy/top1": NaN}')
    cls_transfer.main(['table', '--metrics-dir', 'metrics',
                                     '--out', 'table/cls'])


def zoo_results_missing_a_method(clip):
    _write('results.json', json.dumps({
        'methods': {'zeroshot': 'hand template'},
        'b2n': {'zeroshot': {'base': 80.0, 'novel': 60.0},
                'coop': {'base': 90.0, 'novel': 45.0}}}))
    cls_transfer.main(['zoo', '--results', 'results.json',
                                     '--out', 'zoo.md'])


CASES = {
    'class_file_missing': (
        class_file_missing, FileNotFoundError,
        ('classes file classes.txt: file not found; expected a text file '
         'with one class name per line')),
    'class_file_empty': (
        class_file_empty, ValueError,
        ('classes file classes.txt: file is empty; expected one class name'
         ' per line')),
    'class_file_duplicate': (
        class_file_duplicate, ValueError,
        ("classes file classes.txt: duplicate class name 'cat' on lines 1 "
         'and 3; expected each class name once')),
    'class_name_too_long': (
        class_name_too_long, ValueError,
        ("1 class name(s) do not fit in CLIP's 77-token context with "
         "n_ctx=4, e.g. 'an extremely long and detailed class name an...' "
         'needs 84 tokens; expected at most 77: shorten these names')),
    'vocabulary_empty': (
        vocabulary_empty, ValueError,
        'vocabulary is empty; expected at least one class name'),
    'k_larger_than_n': (
        k_larger_than_n, ValueError,
        ('num_classes_per_step=10 is larger than the vocabulary (6 '
         'classes); use at most 6, or None for the full softmax')),
    'ctx_width_mismatch': (
        ctx_width_mismatch, ValueError,
        ("prompt file 'prompt.pth': ctx width 16 (shape (4, 16)) does not "
         'match the CLIP text width 32; use a prompt trained for this CLIP'
         ' model')),
    'n_ctx_mismatch': (
        n_ctx_mismatch, ValueError,
        ("prompt 'prompt.pth' has n_ctx=4 but the config sets n_ctx=16; "
         'set n_ctx=4 (or None to take it from the file)')),
    'checkpoint_corrupt': (
        checkpoint_corrupt, ValueError,
        ("cannot read prompt file 'prompt.pth', corrupt or truncated (no "
         'PyTorch data inside); expected a file written by torch.save')),
    'checkpoint_truncated': (
        checkpoint_truncated, ValueError,
        ("cannot read prompt file 'prompt.pth', corrupt or truncated "
         '(PytorchStreamReader failed reading zip archive: failed finding '
         'central directory); expected a file written by torch.save')),
    'checkpoint_without_ctx': (
        checkpoint_without_ctx, ValueError,
        ("prompt file 'prompt.pth' has no prompt context tensors (keys: "
         'weight); expected {"state_dict": {"ctx": Tensor[n_ctx, width]}}')),
    'checkpoint_with_pickled_code': (
        checkpoint_with_pickled_code, ValueError,
        ("refusing to load 'prompt.pth': it pickles Python objects beyond "
         f'tensors (first: {os.mkdir.__module__}.mkdir), and pomp_mm loads '
         'checkpoints weights-only so that no code from a file runs; '
         'expected tensors, containers and MMEngine checkpoint data '
         '(re-save weights you trust with torch.save(state_dict))')),
    'clip_wrong_architecture': (
        clip_wrong_architecture, ValueError,
        ("CLIP checkpoint 'clip.pt' does not fit model 'pomp-tiny-vit': 12"
         ' missing keys (e.g. '
         "'visual.transformer.resblocks.1.ln_1.weight'), 49 shape "
         "mismatches (e.g. 'positional_embedding': file (77, 32) vs model "
         '(77, 64)); choose the model_name the weights were trained with')),
    'dataset_root_missing': (
        dataset_root_missing, FileNotFoundError,
        ('data: directory not found; expected '
         'data/<class_folder>/<image>.jpg|png|... (or pass ann_file)')),
    'class_folder_without_images': (
        class_folder_without_images, ValueError,
        ('class folder data/dog has no images (expected files ending in '
         '.jpg, .jpeg, .png, .bmp, .webp)')),
    'image_unreadable': (
        image_unreadable, ValueError,
        ('image data/dog/0.jpg cannot be read (cannot identify image file '
         "'data/dog/0.jpg'); expected a JPG/JPEG/PNG/BMP/WEBP image")),
    'cfg_options_typo': (
        cfg_options_typo, SystemExit,
        ('train.py: error: --cfg-options model.loss.num_clases_per_step: '
         "model.loss has no key 'num_clases_per_step'; did you mean "
         "'num_classes_per_step'?")),
    'config_missing': (
        config_missing, SystemExit,
        ("train.py: error: config file 'configs/nope.py' does not exist; "
         'expected a config file such as configs/pomp/pretrain.py')),
    'resume_truncated': (
        resume_truncated, SystemExit,
        ("train.py: error: --resume: checkpoint 'work/epoch_1.pth' is "
         'corrupt or truncated (no PyTorch data inside); expected a file '
         'written by torch.save, e.g. the previous epoch_N.pth')),
    'truncated_checkpoint_to_test_py': (
        truncated_checkpoint_to_test_py, SystemExit,
        ("test.py: error: checkpoint 'prompt.pth' is corrupt or truncated "
         '(no PyTorch data inside); expected a file written by torch.save, '
         'e.g. the previous epoch_N.pth')),
    'work_dir_read_only': (
        work_dir_read_only, SystemExit,
        ("train.py: error: work dir 'work' is not writable: Read-only file"
         ' system; expected a folder with free space that this user can '
         'write (set --work-dir)')),
    'work_dir_out_of_disk': (
        work_dir_out_of_disk, SystemExit,
        ("train.py: error: work dir 'work' is not writable: No space left "
         'on device; expected a folder with free space that this user can '
         'write (set --work-dir)')),
    'class_name_only_underscore': (
        class_name_only_underscore, ValueError,
        ("classes file classes.txt: line 2 ('_') is an empty class name once "
         "'_' is read as a space; expected one class name per line")),
    'class_names_same_once_cleaned': (
        class_names_same_once_cleaned, ValueError,
        ("classes file classes.txt: duplicate class name 'red circle' on "
         "lines 1 and 2 ('red_circle' and 'red circle' are both the prompt "
         "text 'red circle'); expected each class name once")),
    'class_file_latin1': (
        class_file_latin1, ValueError,
        ('classes file classes.txt: line 2 is not UTF-8 (byte 0xe9 at byte 4'
         ' of the line); expected UTF-8 text, re-save the file as UTF-8 (it '
         'may be Latin-1: iconv -f latin1 -t utf-8)')),
    'class_file_bom_then_duplicate': (
        class_file_bom_then_duplicate, ValueError,
        ("classes file classes.txt: duplicate class name 'cat' on lines 1 "
         'and 3; expected each class name once')),
    'config_not_python': (
        config_not_python, SystemExit,
        ("train.py: error: config file 'config.py' is not valid Python (line"
         ' 1: invalid syntax); expected an OpenMMLab config such as '
         'configs/pomp/pretrain.py')),
    'config_syntax_error': (
        config_syntax_error, SystemExit,
        ("train.py: error: config file 'config.py' is not valid Python (line"
         " 2: '(' was never closed); expected an OpenMMLab config such as "
         'configs/pomp/pretrain.py')),
    'config_error_in_its_code': (
        config_error_in_its_code, SystemExit,
        ("train.py: error: config file 'config.py' cannot be loaded (line 2:"
         " NameError: name 'nctx' is not defined); expected an OpenMMLab "
         'config such as configs/pomp/pretrain.py')),
    'config_base_missing': (
        config_base_missing, SystemExit,
        ("train.py: error: config file 'config.py': _base_ file 'base.py' "
         "does not exist (looked for 'base.py'); expected an OpenMMLab "
         'config such as configs/pomp/pretrain.py')),
    'config_wrong_extension': (
        config_wrong_extension, SystemExit,
        ("test.py: error: config file 'prompt.pth' has extension '.pth'; "
         'expected a Python config (.py, or .json/.yaml/.yml) such as '
         'configs/pomp/pretrain.py')),
    'cfg_options_k_not_a_number': (
        cfg_options_k_not_a_number, SystemExit,
        ('train.py: error: --cfg-options model.loss.num_classes_per_step: '
         "'abc' is a str; expected an int (the config has 16)")),
    'cfg_options_k_fraction': (
        cfg_options_k_fraction, SystemExit,
        ('train.py: error: --cfg-options model.loss.num_classes_per_step: '
         '2.5 is a float; expected an int (the config has 16)')),
    'cfg_options_n_ctx_fraction': (
        cfg_options_n_ctx_fraction, SystemExit,
        ('train.py: error: --cfg-options model.prompt_learner.n_ctx: 2.5 is '
         'a float; expected an int (the config has 4)')),
    'cfg_options_int_for_bool': (
        cfg_options_int_for_bool, SystemExit,
        ('train.py: error: --cfg-options model.loss.correction: 1 is an int;'
         ' expected True or False (the config has True)')),
    'out_is_a_directory': (
        out_is_a_directory, SystemExit,
        ("test.py: error: --out 'metrics.json' is a directory; expected the "
         'path of a file to write, e.g. work_dirs/metrics.json')),
    'prompt_onto_a_full_disk': (
        prompt_onto_a_full_disk, OSError,
        ('[Errno 28] cannot write prompt.pth: No space left on device; '
         'expected a folder with free space that this user can write (an '
         'existing file is left as it was)')),
    'prompt_onto_a_full_disk_without_errno': (
        prompt_onto_a_full_disk_without_errno, OSError,
        ('cannot write prompt.pth: disk quota exceeded, 64000 bytes '
         'requested; expected a folder with free space that this user can '
         'write (an existing file is left as it was)')),
    'metric_not_a_number': (
        metric_not_a_number, SystemExit,
        ('results_table.py: error: metrics file metrics/POMP/dtd.json: '
         "'accuracy/top1' is nan; expected a finite number (or \"n/a\" / "
         'null where the metric does not apply)')),
    'zoo_results_missing_a_method': (
        zoo_results_missing_a_method, SystemExit,
        ('results_table.py: error: --results results.json: "b2n" has '
         "results for method 'coop', which \"methods\" does not list (it "
         'lists zeroshot); expected every method with results in '
         '"methods", as tools/zoo.py writes it')),
}
#: Cases a tool must refuse before it does any work (nothing is created).
BEFORE_ANY_WORK = ('config_not_python', 'config_syntax_error',
                   'config_error_in_its_code', 'config_base_missing',
                   'config_wrong_extension', 'cfg_options_k_not_a_number',
                   'cfg_options_k_fraction', 'cfg_options_n_ctx_fraction',
                   'cfg_options_int_for_bool', 'out_is_a_directory')


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _message(exc_info) -> str:
    if exc_info.type is SystemExit:
        return str(exc_info.value.code)
    return str(exc_info.value)


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_one_clear_line(case, in_tmp, tiny_clip, monkeypatch):
    trigger, exc, want = CASES[case]
    args = (tiny_clip, monkeypatch) if trigger.__code__.co_argcount == 2 \
        else (tiny_clip,)
    with pytest.raises(exc) as info:
        trigger(*args)
    got = _message(info)
    assert got == want and '\n' not in got
    assert not osp.exists('pwned')  # nothing in a file ran
    if case in BEFORE_ANY_WORK:  # no work dir, no generated data
        assert not osp.exists('work') and not osp.exists('data')


def test_docs_list_every_message():
    """docs/reliability.md quotes each message above word for word."""
    text = Path(DOCS).read_text(encoding='utf-8').replace('\\|', '|')
    missing = [case for case, (_, _, msg) in CASES.items()
               if msg not in text]
    assert not missing, missing


# -- wrong image modes: converted to 8-bit RGB, with one warning --------------
def _palette_image(colour):
    img = Image.new('P', (8, 8), 0)
    img.putpalette(list(colour) + [0] * 765)
    return img


MODES = {
    # name: (PIL image, RGB the model gets)
    'grayscale': (lambda: Image.new('L', (8, 8), 100), (100, 100, 100)),
    'rgba': (lambda: Image.new('RGBA', (8, 8), (10, 20, 30, 0)),
             (10, 20, 30)),
    'palette': (lambda: _palette_image((200, 0, 0)), (200, 0, 0)),
    '16-bit': (lambda: Image.fromarray(np.full((8, 8), 40000, np.uint16)),
               (156, 156, 156)),
    'cmyk': (lambda: Image.new('CMYK', (8, 8), (0, 255, 0, 0)),
             (255, 0, 255)),  # magenta, through lossy JPEG
}
MODE_NOTES = {
    'grayscale': 'mode L (grey replicated to 3 channels)',
    'rgba': 'mode RGBA (alpha channel dropped)',
    'palette': 'mode P (palette expanded to RGB)',
    '16-bit': '16-bit grey, mode I;16 (values scaled to 8 bits, grey '
              'replicated to 3 channels)',
    'cmyk': 'mode CMYK (converted from CMYK)',
}


@pytest.mark.parametrize('mode', list(MODES))
def test_wrong_image_mode_is_converted_with_one_warning(mode, in_tmp):
    from mmengine.logging import MMLogger
    make, rgb = MODES[mode]
    ext = 'jpg' if mode == 'cmyk' else 'png'
    for i in range(2):
        os.makedirs('data/cat', exist_ok=True)
        make().save(f'data/cat/{i}.{ext}')
    _rgb('data/dog/0.png')
    records = []
    logger = MMLogger.get_current_instance()
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        dataset = _dataset()
        outs = [dataset[i] for i in range(3)]
    finally:
        logger.removeHandler(handler)
    for out in outs[:2]:  # BGR uint8 from the loader, as for RGB files
        img = out['inputs']
        assert img.shape == (3, 8, 8) and img.dtype == torch.uint8
        bgr = torch.tensor(rgb[::-1])
        assert (img[:, 0, 0].int() - bgr).abs().max() <= (
            2 if mode == 'cmyk' else 0)
    warnings = [r.getMessage() for r in records if r.levelname == 'WARNING']
    assert warnings == [(
        f'ClassFolderDataset: image data/cat/0.{ext} is {MODE_NOTES[mode]}; '
        'it is converted to 8-bit RGB (expected 8-bit RGB images; later '
        'images of this kind are converted silently)')]
    doc = Path(DOCS).read_text(encoding='utf-8')
    assert MODE_NOTES[mode] in doc


# -- nothing already written is lost ------------------------------------------
@pytest.mark.parametrize('writer', ['prompt', 'text'])
def test_failed_write_keeps_the_previous_file(writer, in_tmp, monkeypatch):
    """The write fails half-way (disk full): the old file is intact and no
    temp file is left behind."""
    if writer == 'prompt':
        save_prompt('prompt.pth', torch.ones(4, 32))

        def half_then_full(obj, f, *args, **kwargs):
            f.write(b'PK\x03\x04 half a zip')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with monkeypatch.context() as patch, \
                pytest.raises(OSError) as info:
            patch.setattr(torch, 'save', half_then_full)
            save_prompt('prompt.pth', torch.zeros(4, 32))
        assert torch.equal(load_prompt_ctx('prompt.pth'), torch.ones(4, 32))
        name = 'prompt.pth'
    else:
        atomic_write_text('metrics.json', '{"top1": 50}\n')

        class Half(str):
            def encode(self, *args):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with pytest.raises(OSError) as info:
            atomic_write_text('metrics.json', Half('{"top1": 60}\n'))
        assert Path('metrics.json').read_text() == '{"top1": 50}\n'
        name = 'metrics.json'
    assert str(info.value) == (
        f'[Errno 28] cannot write {name}: No space left on device; expected'
        ' a folder with free space that this user can write (an existing '
        'file is left as it was)')
    assert sorted(os.listdir('.')) == [name]  # no temp file left


# -- class files: every reader makes the list API's checks --------------------
BAD_CLASS_FILES = {
    # name: (content, the same names as a list (None: not expressible as
    # one), the case of CASES with the message)
    'underscore': ('cat\n_\n', ['cat', '_'], 'class_name_only_underscore'),
    'same_once_cleaned': ('red_circle\nred circle\n',
                          ['red_circle', 'red circle'],
                          'class_names_same_once_cleaned'),
    'latin1': ('cat\ncafé\n'.encode('latin-1'), None, 'class_file_latin1'),
}


def _class_file_readers(clip):
    """Every way a class file is read, as ``name -> callable``."""
    _rgb('data/a/0.png')
    _rgb('data/b/0.png')
    return {
        'load_classnames': lambda: load_classnames('classes.txt'),
        'read_vocabulary': lambda: read_vocabulary('classes.txt'),
        'PompPromptLearner': lambda: PompPromptLearner(
            clip, vocabulary='classes.txt', n_ctx=4),
        'names_for_keys': lambda: names_for_keys(['a', 'b'], 'classes.txt'),
        'ClassFolderDataset': lambda: _dataset(classnames_file='classes.txt'),
        'read_names': lambda: read_names('classes.txt'),
    }


@pytest.mark.parametrize('bad', list(BAD_CLASS_FILES))
def test_every_class_file_reader_gives_the_same_line(bad, in_tmp, tiny_clip):
    text, names, case = BAD_CLASS_FILES[bad]
    _write('classes.txt', text)
    with pytest.raises(ValueError) as want:
        load_classnames('classes.txt')
    assert str(want.value) == CASES[case][2]
    for reader, read in _class_file_readers(tiny_clip).items():
        if reader == 'read_names' and bad == 'same_once_cleaned':
            # the classifier's reader allows repeated names (ImageNet has
            # two 'crane' classes), as its list API does
            assert read() == names == read_names(names)
            continue
        with pytest.raises(ValueError) as got:
            read()
        assert str(got.value) == str(want.value), reader
    if names is not None:  # the same names as a list are refused too
        with pytest.raises(ValueError):
            read_vocabulary(names)


def test_class_file_bom_and_line_ends_are_not_part_of_names(in_tmp):
    _write('classes.txt', '\ufeffcat\r\ndog\rred_circle\n'.encode('utf-8'))
    assert load_classnames('classes.txt') == ['cat', 'dog', 'red_circle']
    assert read_vocabulary('classes.txt') == ['cat', 'dog', 'red_circle']
    # a form feed inside a line is no line break (no extra class)
    _write('classes.txt', 'cat\x0cdog\nbird\n')
    assert len(load_classnames('classes.txt')) == 2


# -- writing: through symlinks, refused folders, full disks -------------------
def test_atomic_write_writes_through_a_symlink(in_tmp):
    """The link stays a link; its target gets the new content; no temp file
    is left beside the link or the target."""
    _write('store/metrics.json', '{"top1": 50}\n')
    os.symlink(osp.join('store', 'metrics.json'), 'metrics.json')
    atomic_write_text('metrics.json', '{"top1": 60}\n')
    assert osp.islink('metrics.json')
    assert Path('store/metrics.json').read_text() == '{"top1": 60}\n'
    save_prompt('store/prompt.pth', torch.ones(4, 32))
    os.symlink(osp.join('store', 'prompt.pth'), 'prompt.pth')
    save_prompt('prompt.pth', torch.zeros(4, 32))
    assert osp.islink('prompt.pth')
    assert torch.equal(load_prompt_ctx('store/prompt.pth'),
                       torch.zeros(4, 32))
    assert sorted(os.listdir('.')) == ['metrics.json', 'prompt.pth', 'store']
    assert sorted(os.listdir('store')) == ['metrics.json', 'prompt.pth']
    os.symlink(osp.join('new', 'x.json'), 'dangling.json')
    atomic_write_text('dangling.json', 'x\n')  # creates the link's target
    assert Path('new/x.json').read_text() == 'x\n'


@pytest.mark.parametrize('case', ['folder', 'link_to_folder', 'link_loop',
                                  'parent_is_a_file'])
def test_atomic_write_refuses_what_cannot_be_a_file(case, in_tmp):
    os.makedirs('folder')
    _write('file.txt', 'kept\n')
    path, want = {
        'folder': ('folder', '[Errno 21] cannot write folder: Is a '
                   'directory; expected the path of a file, not a folder'),
        'link_to_folder': ('link', '[Errno 21] cannot write link: Is a '
                           'directory; expected the path of a file, not a '
                           'folder'),
        'link_loop': ('loop', '[Errno 40] cannot write loop: Too many levels'
                      ' of symbolic links; expected a file or a symlink to '
                      'one'),
        'parent_is_a_file': ('file.txt/x.json', '[Errno 20] cannot write '
                             'file.txt/x.json: Not a directory; expected a '
                             'path whose parents are folders'),
    }[case]
    os.symlink('folder', 'link')
    os.symlink('loop', 'loop')
    with pytest.raises(OSError) as info:
        atomic_write_text(path, 'new\n')
    assert str(info.value) == want + ' (an existing file is left as it was)'
    assert Path('file.txt').read_text() == 'kept\n'
    assert os.listdir('folder') == []


@pytest.mark.parametrize('case', ['link_to_folder', 'parent_is_a_file'])
def test_out_that_cannot_be_a_file_is_refused_first(case, in_tmp):
    os.makedirs('folder')
    os.symlink('folder', 'link.json')
    _write('file.txt', 'kept\n')
    out, want = {
        'link_to_folder': ('link.json', "--out-metrics 'link.json' is a "
                           'directory; expected the path of a file to '
                           'write, e.g. work_dirs/metrics.json'),
        'parent_is_a_file': ('file.txt/m.json', "--out-metrics "
                             "'file.txt/m.json': 'file.txt' is a file, not "
                             'a folder; expected the path of a file to '
                             'write, e.g. work_dirs/metrics.json'),
    }[case]
    with pytest.raises(SystemExit) as info:
        engine_test.main([CONFIG, '--out-metrics', out, '--work-dir',
                          'work'])
    assert str(info.value.code) == f'test.py: error: {want}'
    assert not osp.exists('work') and not osp.exists('data')


def test_full_disk_inside_torch_save_keeps_the_previous_file(in_tmp,
                                                             monkeypatch):
    """The disk fills in the middle of a real torch.save (at the tensor's
    data, 1000 of the file's 6761 bytes written). torch's zip writer then
    raises a RuntimeError of its own that does not say why (``unexpected
    pos ...``): here it is one OSError line, the old file intact, no temp
    file left."""
    save_prompt('prompt.pth', torch.ones(4, 32))
    with monkeypatch.context() as patch, pytest.raises(OSError) as info:
        _fill_disk(patch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                   room=1000)
        atomic_torch_save({'state_dict': {'ctx': torch.zeros(40, 32)}},
                          'prompt.pth')
    assert str(info.value) == CASES['prompt_onto_a_full_disk'][2]
    assert info.value.errno == errno.ENOSPC
    assert torch.equal(load_prompt_ctx('prompt.pth'), torch.ones(4, 32))
    assert os.listdir('.') == ['prompt.pth']


# -- --cfg-options types: what is accepted ---------------------------------
def test_cfg_options_of_a_fitting_type_are_accepted():
    from mmengine.config import Config
    cfg = Config(dict(model=dict(loss=dict(k=16, correction=True, tau=0.5,
                                           log_base='e', off=None),
                                 topk=(1, 5))))
    cli.check_cfg_options(cfg, {
        'model.loss.k': 8, 'model.loss.tau': 1,  # an int is a number
        'model.loss.correction': False, 'model.loss.log_base': 10,
        'model.loss.off': 2.5, 'model.topk': [1], 'model.new_key': 'x'})
    cli.check_cfg_options(cfg, {'model.loss.k': None})  # full softmax
    for value in (True, 8.0, '8', [8]):
        with pytest.raises(cli.CliError, match='expected an int'):
            cli.check_cfg_options(cfg, {'model.loss.k': value})
    with pytest.raises(cli.CliError, match='expected a number'):
        cli.check_cfg_options(cfg, {'model.loss.tau': True})


# -- results tables: "n/a" is a cell, not a crash ---------------------------
def test_results_table_renders_a_metric_that_does_not_apply(in_tmp):
    for method, dtd, eurosat in (('POMP', '"n/a"', '50.0'),
                                 ('CLIP', '40.0', 'null')):
        _write(f'metrics/{method}/dtd.json', f'{{"accuracy/top1": {dtd}}}')
        _write(f'metrics/{method}/eurosat.json',
               f'{{"accuracy/top1": {eurosat}}}')
    text = cls_transfer.main([
        'table', '--metrics-dir', 'metrics', '--methods', 'POMP', 'CLIP',
        '--out', 'table/cls'])
    assert '| POMP | n/a | 50.00 |  |' in text  # mean: 2 of 10 datasets
    assert '| CLIP | 40.00 | n/a |  |' in text
    assert Path('table/cls.csv').read_text().splitlines()[1:] == [
        'POMP,n/a,50.00,', 'CLIP,40.00,n/a,']
    assert Path('table/cls.png').read_bytes()[:4] == b'\x89PNG'


def test_zoo_table_renders_n_a_as_not_applicable(in_tmp):
    _write('results.json', json.dumps({
        'methods': {'zeroshot': 'hand template', 'linear_probe': 'probe'},
        'b2n': {'zeroshot': {'base': 80.0, 'novel': 60.0},
                'linear_probe': {'base': 70.0, 'novel': 'n/a'}}}))
    text = cls_transfer.main(['zoo', '--results',
                                            'results.json'])
    assert '| probe | 70.0 | – | – |' in text
    assert '| hand template | 80.0 | 60.0 | 68.6 |' in text
