"""Train the mini-world's tiny CLIP contrastively on generated image-captions.

    python tools/train_tiny_clip.py --out data/miniworld/tiny_clip.pt
    python tools/train_tiny_clip.py --steps 40 --batch-size 64 --out x.pt  # smoke

The "web data" of this CLIP are single-object scenes of *all* 20,736 classes
(as real CLIP saw most downstream concepts on the web), 85% on clean and 15%
on shifted backgrounds, each with a caption naming the object. The result is
a normal open_clip checkpoint (``{'state_dict': ...}``) that
``FrozenCLIP('pomp-mini-vit', checkpoint=...)`` reads. Deterministic for a
seed: each batch is drawn from ``rng([seed, step])`` and torch is seeded.
"""
import argparse
import math
import os.path as osp
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import pomp_mm  # noqa: F401
from pomp_mm.core import FrozenCLIP
from pomp_mm.core.checkpoint import atomic_torch_save
from pomp_mm.benchmarks.miniworld import (NUM_CLASSES, caption,
                                          render_scene, sample_scene)

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


class CaptionBatches(Dataset):
    """Batch ``i`` of image-caption pairs, a pure function of (seed, i)."""

    def __init__(self, steps: int, batch_size: int, seed: int, tokenizer,
                 shifted_fraction: float = 0.15, image_size: int = 64):
        self.steps, self.batch_size, self.seed = steps, batch_size, seed
        self.tokenizer, self.image_size = tokenizer, image_size
        self.shifted_fraction = shifted_fraction

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        rng = np.random.default_rng([self.seed, step])
        imgs, caps = [], []
        for _ in range(self.batch_size):
            domain = 'shifted' if rng.random() < self.shifted_fraction \
                else 'clean'
            scene = sample_scene(rng, [int(rng.integers(NUM_CLASSES))],
                                 domain, self.image_size)
            imgs.append(render_scene(scene)[0])
            caps.append(caption(scene, rng))
        images = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
        return images, self.tokenizer(caps)


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (B, 3, H, W) to CLIP-normalised float."""
    return (images.float() / 255 - MEAN) / STD


def train(args) -> FrozenCLIP:
    torch.manual_seed(args.seed)
    clip = FrozenCLIP(args.model, allow_random=True)  # trained below
    model = clip.model.requires_grad_(True)  # trained here, frozen later
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1),
                             dict(params=no_decay, weight_decay=0.0)],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * t))

    data = CaptionBatches(args.steps, args.batch_size, args.seed,
                          clip.tokenizer, image_size=clip.image_size[0])
    loader = DataLoader(data, batch_size=None, shuffle=False,
                        num_workers=args.workers)
    start = time.time()
    labels = torch.arange(args.batch_size)
    for step, (images, tokens) in enumerate(loader):
        for group in opt.param_groups:
            group['lr'] = lr_at(step)
        img = clip.encode_image(normalize_images(images), normalize=True)
        txt = clip.encode_text(tokens, normalize=True)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.t()
        loss = (F.cross_entropy(logits, labels) +
                F.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.log_every == 0 or step == args.steps - 1:
            acc = (logits.argmax(1) == labels).float().mean().item()
            print(f'[tiny-clip] step {step + 1}/{args.steps} loss '
                  f'{loss.item():.4f} in-batch acc {acc:.3f} lr '
                  f'{lr_at(step):.2e} ({time.time() - start:.0f} s)',
                  flush=True)
    model.requires_grad_(False).eval()
    return clip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/miniworld/tiny_clip.pt',
                   help='output open_clip checkpoint (.pt)')
    p.add_argument('--model', default='pomp-mini-vit',
                   help='open_clip config (pomp_mm/model_configs)')
    p.add_argument('--steps', type=int, default=600)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--workers', type=int, default=1,
                   help='processes rendering batches (0: in the main one)')
    p.add_argument('--log-every', type=int, default=50)
    return p


def main(argv=None) -> str:
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.batch_size < 2:
        sys.exit('train_tiny_clip.py: error: --steps must be >= 1 and '
                 '--batch-size >= 2')
    torch.set_num_threads(max(1, torch.get_num_threads()))
    clip = train(args)
    atomic_torch_save({'state_dict': clip.model.state_dict(),
                       'model_name': args.model, 'steps': args.steps,
                       'seed': args.seed}, args.out)
    print(f'[tiny-clip] saved {osp.abspath(args.out)}')
    return args.out

