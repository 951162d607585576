"""The benchmarks' cached experiment runner: a training or a test runs
again only when what it would compute changed.

Every training and every evaluation of a benchmark driver (the mini-world,
the transfer zoo) is keyed by :func:`stage_key`: the final config (which
holds the seed and every option) and the digests of the files it reads
(the CLIP, a prompt, a checkpoint, scene annotations). A file rewritten at
the same path, or a config changed anywhere, changes the key, so a stale
prompt or checkpoint is never reused.

- :func:`train_once`: a training's folder holds a stamp with its key; the
  product (``prompt_latest.pth``, a checkpoint) is reused only under the
  same key, else the folder's stamp is cleared and it trains again;
- :func:`test_once`: an evaluation's result is stored under its key in a
  cache folder.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, Optional

from pomp_mm.core.checkpoint import atomic_write_text, read_json

#: The stamp file of a finished training, in its work dir.
STAMP = 'miniworld_stage.json'


def file_digest(path: Optional[str]) -> str:
    """SHA-1 of a file's bytes (``'none'`` for no file).

    Args:
        path (str, optional): The file; a path that does not exist is an
            error (a key must not silently ignore an input).

    Returns:
        str: The hex digest.
    """
    if path is None:
        return 'none'
    h = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def stage_key(config_text: str, inputs: Dict[str, Optional[str]]) -> str:
    """The cache key of a training or an evaluation.

    Args:
        config_text (str): The final config (``cfg.pretty_text``), which
            holds the seed and every option.
        inputs (dict): Name -> file the stage reads (CLIP, prompt, scene
            annotations) or None; their contents enter the key, so a file
            rewritten at the same path invalidates it.

    Returns:
        str: A hex digest.
    """
    digests = {k: file_digest(v) for k, v in sorted(inputs.items())}
    text = config_text + '\n' + json.dumps(digests, sort_keys=True)
    return hashlib.sha1(text.encode('utf-8')).hexdigest()


def stamp_matches(work_dir: str, key: str, stamp: str = STAMP) -> bool:
    """Whether ``work_dir`` holds the finished stage of this key."""
    return (read_json(osp.join(work_dir, stamp)) or {}).get('key') == key


def clear_stamp(work_dir: str, stamp: str = STAMP) -> None:
    """Forget the stage in ``work_dir`` before it is (re)computed, so an
    interrupted run never leaves files of a new stage under an old key."""
    path = osp.join(work_dir, stamp)
    if osp.lexists(path):
        os.remove(path)


def write_stamp(work_dir: str, key: str, stamp: str = STAMP,
                **info: Any) -> None:
    """Mark the stage in ``work_dir`` finished under ``key`` (atomic)."""
    atomic_write_text(osp.join(work_dir, stamp),
                      json.dumps(dict(key=key, **info), sort_keys=True) +
                      '\n')


def cached_result(cache_dir: str, key: str) -> Any:
    """The stored result of an evaluation with this key, or None."""
    record = read_json(osp.join(cache_dir, key + '.json')) or {}
    return record.get('result') if record.get('key') == key else None


def store_result(cache_dir: str, key: str, result: Any, **info: Any) -> None:
    """Store an evaluation's result under its key (atomic)."""
    atomic_write_text(osp.join(cache_dir, key + '.json'),
                      json.dumps(dict(key=key, result=result, **info),
                                 sort_keys=True) + '\n')


def train_once(work_dir: str, key: str, product: Callable[[], Optional[str]],
               train: Callable[[], Any], stamp: str = STAMP,
               **info: Any) -> tuple:
    """Train unless ``work_dir`` already holds the training of ``key``.

    Args:
        work_dir (str): The training's own folder.
        key (str): :func:`stage_key` of the training.
        product (callable): ``() -> path`` of what the training leaves
            (None or a missing file: not there).
        train (callable): Runs the training (in ``work_dir``).
        stamp (str): The stamp's file name. Defaults to :data:`STAMP`.
        **info: Stored in the stamp beside the key (not part of it).

    Returns:
        tuple: ``(path, reused)``: the product and whether it was reused.

    Raises:
        RuntimeError: When the training finished without its product.
    """
    path = product()
    if path and osp.isfile(path) and stamp_matches(work_dir, key, stamp):
        return path, True
    clear_stamp(work_dir, stamp)
    train()
    path = product()
    if not path or not osp.isfile(path):
        raise RuntimeError(f'the training in {work_dir} finished without '
                           f'writing {path or "its product"}; expected it '
                           'there')
    write_stamp(work_dir, key, stamp, **info)
    return path, False


def test_once(cache_dir: str, key: str, test: Callable[[], Any],
              **info: Any) -> Any:
    """The stored result of the evaluation ``key``, else ``test()``'s
    (then stored under ``key``; ``info`` is stored beside it)."""
    result = cached_result(cache_dir, key)
    if result is None:
        result = test()
        store_result(cache_dir, key, result, **info)
    return result
