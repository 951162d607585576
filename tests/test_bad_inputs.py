"""Every bad input of the issue gives ONE line naming the file/key/value and
what was expected; nothing already written is lost.

Each case runs in a fresh folder with relative paths, so the messages are
exactly those listed in docs/reliability.md (a test checks that).
"""
import errno
import logging
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tool_loader import load_tool

from pomp_mm.core import (
    FrozenCLIP,
    PompLoss,
    PompPromptLearner,
    load_classnames,
    load_prompt_ctx,
    save_prompt,
)
from pomp_mm.core.checkpoint import atomic_write_text
from pomp_mm.datasets import ClassFolderDataset
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
    load_tool('train').main([CONFIG, '--work-dir', 'work', '--cfg-options',
                             'model.loss.num_clases_per_step=3'])


def config_missing(clip):
    load_tool('train').main(['configs/nope.py'])


def resume_truncated(clip):
    torch.save({'meta': {}, 'state_dict': {}}, 'full.pth')
    data = Path('full.pth').read_bytes()
    _write('work/epoch_1.pth', data[:len(data) // 2])
    load_tool('train').main([CONFIG, '--work-dir', 'work', '--resume',
                             'work/epoch_1.pth'])


def truncated_checkpoint_to_test_py(clip):
    save_prompt('full.pth', torch.zeros(4, 32))
    data = Path('full.pth').read_bytes()
    _write('prompt.pth', data[:len(data) // 2])
    load_tool('test').main([CONFIG, 'prompt.pth', '--work-dir', 'work'])


def _fail_writes(code):
    """The work-dir probe write fails with ``code`` (root ignores chmod)."""
    def fake_open(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), path)
    return fake_open


def work_dir_read_only(clip, monkeypatch):
    monkeypatch.setattr(cli, 'open', _fail_writes(errno.EROFS),
                        raising=False)
    load_tool('train').main([CONFIG, '--work-dir', 'work'])


def work_dir_out_of_disk(clip, monkeypatch):
    monkeypatch.setattr(cli, 'open', _fail_writes(errno.ENOSPC),
                        raising=False)
    load_tool('train').main([CONFIG, '--work-dir', 'work'])


class _Payload:
    """Would create the folder ``pwned`` if the file were unpickled."""

    def __reduce__(self):
        return os.mkdir, ('pwned',)


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
        ("prompt file 'prompt.pth' holds pickled Python objects (it "
         'references posix.mkdir), which weights-only loading refuses; '
         'expected tensors only, e.g. {"state_dict": {"ctx": Tensor}}')),
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
}


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
    args = (tiny_clip, monkeypatch) if case.startswith('work_dir') else \
        (tiny_clip,)
    with pytest.raises(exc) as info:
        trigger(*args)
    got = _message(info)
    assert got == want and '\n' not in got
    assert not osp.exists('pwned')  # nothing in a file ran


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
