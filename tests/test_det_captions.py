"""Detic's caption batch across processes: gather_caption_features with 3
gloo processes holding 2, 0 and 3 captions (and a step with none)."""
import json
import os
import os.path as osp
import socket

import pytest
import torch
import torch.multiprocessing as mp

from pomp_mm.det.captions import gather_caption_features, pick_captions

COUNTS = [2, 0, 3]
DIM = 4


def rows(rank):
    """This rank's caption features: distinct values per rank and row."""
    n = COUNTS[rank]
    return (torch.arange(n * DIM, dtype=torch.float32).view(n, DIM) +
            100 * (rank + 1))


def _worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank,
                                         world_size=len(COUNTS))
    try:
        gathered, start = gather_caption_features(rows(rank))
        empty, empty_start = gather_caption_features(torch.zeros(0, DIM))
        with open(osp.join(out_dir, f'{rank}.json'), 'w') as f:
            json.dump(dict(gathered=gathered.tolist(), start=start,
                           empty=list(empty.shape),
                           empty_start=empty_start), f)
    finally:
        torch.distributed.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_gather_caption_features_across_processes(tmp_path):
    mp.start_processes(_worker, args=(free_port(), str(tmp_path)),
                       nprocs=len(COUNTS), start_method='spawn')
    want = torch.cat([rows(r) for r in range(len(COUNTS))])
    for rank in range(len(COUNTS)):
        got = json.loads((tmp_path / f'{rank}.json').read_text())
        assert torch.equal(torch.tensor(got['gathered']), want)
        assert got['start'] == sum(COUNTS[:rank])  # 0, 2, 2
        assert got['empty'] == [0, DIM] and got['empty_start'] == 0


def test_gather_caption_features_single_process():
    feats = rows(2)
    gathered, start = gather_caption_features(feats)
    assert gathered is feats and start == 0


def test_pick_captions_draws_from_each_image():
    torch.manual_seed(0)
    caps = [['a'], ['b', 'c', 'd']]
    picks = {tuple(pick_captions(caps)) for _ in range(50)}
    assert {p[0] for p in picks} == {'a'}
    assert {p[1] for p in picks} == {'b', 'c', 'd'}
    with pytest.raises(ValueError) as e:
        pick_captions([['a'], 'not a list'])
    assert str(e.value) == ("caption-labelled image 1 of the batch has "
                            "captions='not a list'; expected a non-empty "
                            'list of strings')
