# Zero-shot test on a mini-world target. With no prompt file given, the
# learner's ctx is the word embeddings of "a photo of a", i.e. exactly the
# hand template "a photo of a {name}."; tools/test.py THIS PROMPT.pth swaps
# in a learned prompt.
_base_ = ['./pomp_source.py']

model = dict(prompt_learner=dict(n_ctx=None, ctx_init='a photo of a',
                                 freeze=True))
test_dataloader = dict(
    batch_size=128,
    dataset=dict(split='mixed200', subset='unseen', images_per_class=20,
                 sample_seed=3, max_classes=None))
