"""The POMP objective against hand computations of the spec's formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from pomp_mm.core import PompLoss, pomp_logits


def _feats(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1)


def _hand_loss(img, text, labels, negs, scale, n_cls, correction, log):
    """Per view, written out from the spec (pomp_spec.md section 2)."""
    total = 0.0
    for i in range(len(img)):
        row = [scale * float(img[i] @ text[labels[i]])]
        r = sum(int(c == labels[i]) for c in negs)
        for c in negs:
            z = scale * float(img[i] @ text[c])
            if c == labels[i]:
                z -= 1e6
            if correction:
                z += log(n_cls - 1) - log(len(negs) - r)
            row.append(z)
        m = max(row)
        lse = m + math.log(sum(math.exp(z - m) for z in row))
        total += lse - row[0]
    return total / len(img)


@pytest.mark.parametrize('correction,base,log', [
    (True, 'e', math.log), (True, 10, math.log10), (False, 'e', math.log)])
def test_loss_matches_hand_computation(correction, base, log):
    n_cls, scale = 20, 30.0
    text, img = _feats(n_cls, seed=1), _feats(6, seed=2)
    labels = torch.tensor([0, 3, 3, 7, 19, 11])
    negs = torch.tensor([3, 5, 8, 19, 2])  # includes two views' own class
    loss_fn = PompLoss(num_classes_per_step=6, correction=correction,
                       log_base=base)
    got = loss_fn(img, text[labels], text[negs], labels, negs, scale, n_cls)
    want = _hand_loss(img, text, labels.tolist(), negs.tolist(), scale,
                      n_cls, correction, log)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_correction_margin_values():
    # N = 10,450 and K = 1000: margin ln(10449/999) = 2.3475 vs log10: 1.0195
    n_cls, k = 10450, 1000
    img, text = _feats(1), _feats(1)
    negs = torch.arange(1, k)  # own class (0) not drawn: R = 0
    zero = pomp_logits(img, text, torch.zeros(k - 1, 8), torch.tensor([0]),
                       negs, 1.0, n_cls, correction=False)
    for base, want in (('e', 2.3475), (10, 1.0195)):
        z = pomp_logits(img, text, torch.zeros(k - 1, 8), torch.tensor([0]),
                        negs, 1.0, n_cls, correction=True, base=base)
        assert (z - zero)[0, 1:].unique().item() == pytest.approx(want,
                                                                  abs=1e-3)
        assert (z - zero)[0, 0].item() == 0  # the positive has no margin


def test_k_equal_n_is_full_softmax_ce():
    n_cls, scale = 12, 50.0
    text, img = _feats(n_cls, seed=3), _feats(5, seed=4)
    labels = torch.tensor([0, 4, 4, 11, 6])
    full = F.cross_entropy(scale * img @ text.t(), labels)
    for correction in (False, True):  # the correction is 0 when K = N
        loss_fn = PompLoss(num_classes_per_step=n_cls, correction=correction)
        negs = loss_fn.sample(n_cls)
        assert sorted(negs.tolist()) == list(range(n_cls))
        got = loss_fn(img, text[labels], text[negs], labels, negs, scale,
                      n_cls)
        torch.testing.assert_close(got, full)
    assert PompLoss(num_classes_per_step=None).num_drawn(n_cls) == n_cls


def test_sampler_draws_without_replacement_and_resumes():
    loss_fn = PompLoss(num_classes_per_step=100, seed=7)
    draw = loss_fn.sample(1000)
    assert len(draw) == 99 and len(draw.unique()) == 99
    assert int(draw.max()) < 1000
    state = loss_fn.state_dict()
    after = [loss_fn.sample(1000) for _ in range(3)]
    resumed = PompLoss(num_classes_per_step=100, seed=123)
    resumed.load_state_dict(state)
    for want in after:
        assert torch.equal(resumed.sample(1000), want)
    # the global RNG is not used
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    loss_fn.sample(1000)
    assert torch.equal(torch.rand(1), before)


def test_bad_settings():
    with pytest.raises(ValueError, match='larger than the vocabulary'):
        PompLoss(num_classes_per_step=50).sample(20)
    with pytest.raises(ValueError, match='log_base'):
        PompLoss(log_base=1)
    with pytest.raises(ValueError, match='>= 2'):
        PompLoss(num_classes_per_step=1)
