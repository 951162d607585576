"""Zero-shot image-text retrieval with a frozen CLIP (recall@K both ways).

The evaluation is mmpretrain's, as its BLIP retrieval configs use it:

* ``test_cfg = dict(type='RetrievalTestLoop')`` collects the model's
  ``mode='tensor'`` features of the whole test set, then calls the model's
  ``predict_all`` once for image-to-text and text-to-image predictions;
* ``test_evaluator = dict(type='RetrievalRecall', topk=(1, 5, 10))``
  scores each query as a hit when any of its ground-truth items is in the
  top K, reported as ``i2t/retrieval/Recall@K`` and
  ``t2i/retrieval/Recall@K``;
* the dataset follows mmpretrain's retrieval layout in test mode
  (``COCORetrieval``, ``Flickr30kRetrieval``): one item per image with its
  captions ``text``, their global ids ``gt_text_id`` and ``gt_image_id``,
  and ``img_size`` / ``text_size`` attributes.

pomp_mm adds :class:`CLIPRetriever`, which embeds images and captions with
a :class:`~pomp_mm.core.FrozenCLIP` and ranks by cosine similarity. The
mini-world's image-caption pairs (``MiniWorldCaptions``) are a benchmark
dataset: :mod:`pomp_mm.benchmarks.miniworld.captions`.
"""
from collections.abc import Sequence

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from pomp_mm.core import FrozenCLIP

from .model import CLIPClassifierBase

__all__ = ['CLIPRetriever']


def __getattr__(name: str):
    """``MiniWorldCaptions`` moved to
    :mod:`pomp_mm.benchmarks.miniworld.captions`; kept for this release
    (imported only when asked for, so importing the task does not import
    the benchmark)."""
    if name == 'MiniWorldCaptions':
        from pomp_mm.benchmarks.miniworld.captions import MiniWorldCaptions
        return MiniWorldCaptions
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def _gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor over ranks, in rank order."""
    if get_world_size() == 1:
        return t
    return torch.cat([x.to(t.device) for x in all_gather_object(t.cpu())])


@MODELS.register_module()
class CLIPRetriever(BaseModel):
    """Zero-shot image-text retrieval with a frozen CLIP.

    Images and captions are embedded by CLIP and L2-normalised; the score of
    a pair is their cosine similarity. Use it with mmpretrain's
    ``RetrievalTestLoop`` and ``RetrievalRecall``.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        text_batch_size (int): Captions per text-tower batch.
            Defaults to 256.
        data_preprocessor (dict, optional): Defaults to CLIP's mean/std
            (RGB), as :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: dict | FrozenCLIP,
                 text_batch_size: int = 256,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = {'type': 'mmpretrain.SelfSupDataPreprocessor',
                                     'mean': CLIPClassifierBase.CLIP_MEAN,
                                     'std': CLIPClassifierBase.CLIP_STD,
                                     'to_rgb': True}
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.clip = MODELS.build(clip) if isinstance(clip, dict) else clip
        if text_batch_size < 1:
            raise ValueError(f'text_batch_size={text_batch_size}: expected '
                             '>= 1')
        self.text_batch_size = text_batch_size

    def forward(self,
                inputs: torch.Tensor | list[torch.Tensor],
                data_samples: list[DataSample] | None = None,
                mode: str = 'tensor'):
        """``'tensor'``: features; ``'predict'``: retrieval within the
        batch. There is nothing to train (``'loss'`` raises)."""
        images = torch.cat(list(inputs)) if isinstance(
            inputs, (list, tuple)) else inputs
        if mode == 'tensor':
            return self.extract_feat(images, data_samples)
        if mode == 'predict':
            return self.predict_all(self.extract_feat(images, data_samples),
                                    data_samples)
        if mode == 'loss':
            raise RuntimeError('CLIPRetriever is zero-shot and has nothing '
                               'to train; use tools/test.py')
        raise RuntimeError(f'Invalid mode "{mode}".')

    @staticmethod
    def captions(data_samples: list[DataSample] | None) -> list[str]:
        """Every caption of the batch, in item order."""
        texts = []
        for sample in data_samples or []:
            text = sample.get('text')
            if text is None:
                raise ValueError('a retrieval sample has no "text"; pack it '
                                 "with PackInputs(algorithm_keys=['text', "
                                 "'gt_text_id', 'gt_image_id'])")
            texts += [text] if isinstance(text, str) else list(text)
        return texts

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """(T, D) normalised CLIP text features of captions."""
        device = self.clip.model.logit_scale.device
        feats = [
            self.clip.encode_text(
                self.clip.tokenizer(list(texts[i:i + self.text_batch_size])
                                    ).to(device), normalize=True).float()
            for i in range(0, len(texts), self.text_batch_size)
        ]
        return torch.cat(feats) if feats else torch.zeros(
            0, self.clip.embed_dim, device=device)

    @torch.no_grad()
    def extract_feat(self, images: torch.Tensor,
                     data_samples: list[DataSample] | None = None
                     ) -> dict[str, torch.Tensor]:
        """``image_feat`` (B, D) and ``text_feat`` (T, D), normalised."""
        return {
            'image_feat': self.clip.encode_image(images, normalize=True).float(),
            'text_feat': self.encode_texts(self.captions(data_samples))}

    def predict_all(self,
                    feats: dict[str, torch.Tensor],
                    data_samples: list[DataSample],
                    num_images: int | None = None,
                    num_texts: int | None = None
                    ) -> tuple[list[DataSample], list[DataSample]]:
        """Image-to-text and text-to-image predictions of the local items.

        Args:
            feats (dict): ``image_feat`` (B, D) and ``text_feat`` (T, D) of
                this rank's items, in item order.
            data_samples (list[DataSample]): The items, with ``gt_text_id``
                and ``gt_image_id`` (global ids).
            num_images (int, optional): Images in the whole set (drops the
                padding of distributed samplers). Defaults to all gathered.
            num_texts (int, optional): Captions in the whole set.
                Defaults to all gathered.

        Returns:
            tuple[list[DataSample], list[DataSample]]: One sample per local
            image (scores over all captions, ``gt_label`` = its caption
            ids) and one per local caption (scores over all images,
            ``gt_label`` = its image id).
        """
        image_feat, text_feat = feats['image_feat'], feats['text_feat']
        all_images = _gather(image_feat)[:num_images]
        all_texts = _gather(text_feat)[:num_texts]
        i2t_scores = image_feat @ all_texts.t()
        t2i_scores = text_feat @ all_images.t()
        i2t, t2i = [], []
        for sample, score in zip(data_samples, i2t_scores):
            out = DataSample().set_pred_score(score).set_pred_label(
                score.argmax(keepdim=True))
            if 'gt_text_id' in sample:
                out.set_gt_label(list(sample.gt_text_id))
            i2t.append(out)
        image_ids = [i for s in data_samples for i in s.get('gt_image_id', [])]
        for k, score in enumerate(t2i_scores):
            out = DataSample().set_pred_score(score).set_pred_label(
                score.argmax(keepdim=True))
            if k < len(image_ids):
                out.set_gt_label(int(image_ids[k]))
            t2i.append(out)
        return i2t, t2i
