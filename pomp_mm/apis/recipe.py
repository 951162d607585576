# Copyright (c) pomp_mm contributors. All rights reserved.
"""The open_clip-style recipe: a CLIP with a POMP prompt in five lines.

    from PIL import Image
    from pomp_mm.apis import create_model_and_transforms
    model, preprocess = create_model_and_transforms(
        'pomp-mini-vit', 'tiny_clip.pt', prompt='prompt_latest.pth')
    text = model.encode_vocabulary(['red heart', 'blue star'])
    image = model.encode_image(preprocess(Image.open('scene.png'))[None])
    probs = (model.logit_scale * image @ text.T).softmax(dim=-1)

``preprocess`` is open_clip's own evaluation transform for the model's
input size (bicubic resize of the shorter side, centre crop, CLIP's mean and
std); both encoders return L2-normalised features. The scores are those of
``PompInferencer('cls', ...)`` for the same files.
"""
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import nn

import pomp_mm  # noqa: F401
from pomp_mm.core.clip import FrozenCLIP
from pomp_mm.core.prompt import PompPromptLearner, load_prompt


class PompCLIP(nn.Module):
    """A frozen CLIP whose text side is a POMP prompt.

    Args:
        learner (PompPromptLearner): The prompt learner (with its CLIP).
        text_batch_size (int): Names encoded per batch. Defaults to 256.
    """

    def __init__(self, learner: PompPromptLearner,
                 text_batch_size: int = 256) -> None:
        super().__init__()
        self.prompt_learner = learner
        self.text_batch_size = text_batch_size

    @property
    def clip(self) -> FrozenCLIP:
        return self.prompt_learner.clip

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale.detach()

    @torch.no_grad()
    def encode_vocabulary(self, names: Sequence[str]) -> torch.Tensor:
        """(N, D) normalised text features of ``names`` with the prompt."""
        self.prompt_learner.set_vocabulary(list(names))
        return self.prompt_learner.encode_vocabulary(
            self.text_batch_size, normalize=True).float()

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D) normalised image features of preprocessed images."""
        return self.clip.encode_image(images, normalize=True).float()


def create_model_and_transforms(model_name: str, clip_checkpoint: str,
                                prompt: Optional[str] = None,
                                device: str = 'cpu'
                                ) -> Tuple[PompCLIP, Callable]:
    """``(model, preprocess)`` as open_clip's ``create_model_and_transforms``
    (less the training transform); ``prompt`` goes in through
    :func:`pomp_mm.core.load_prompt` (none: the hand template
    "a photo of a {}.")."""
    import open_clip
    from .inferencer import _learner_cfg
    from mmengine.registry import MODELS
    learner = MODELS.build(_learner_cfg(model_name, clip_checkpoint, prompt))
    if prompt is not None:
        load_prompt(learner, prompt)
    model = PompCLIP(learner).to(device).eval()
    size = tuple(int(s) for s in model.clip.image_size)
    preprocess = open_clip.image_transform(
        size, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN,
        std=open_clip.OPENAI_DATASET_STD)
    return model, preprocess
