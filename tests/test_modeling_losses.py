"""Hungarian matcher and set criterion on hand-built cases."""
import math

import torch

from woo.modeling.criterion import SetCriterion
from woo.modeling.matcher import HungarianMatcher


def random_boxes(n, generator):
    xy = torch.rand(n, 2, generator=generator) * 0.6
    wh = torch.rand(n, 2, generator=generator) * 0.3 + 0.05
    return torch.cat([xy, xy + wh], dim=1)


def test_matcher_batched_equals_per_clip_and_handles_empty():
    g = torch.Generator().manual_seed(0)
    matcher = HungarianMatcher(2.0, 5.0, 2.0)
    n, p = 3, 7
    outputs = {"logits": torch.randn(n, p, 2, generator=g),
               "boxes": random_boxes(n * p, g).view(n, p, 4)}
    targets = [{"boxes": random_boxes(k, g)} for k in (2, 0, 4)]
    batched = matcher(outputs, targets)
    for i in range(n):
        single = matcher({k: v[i:i + 1] for k, v in outputs.items()}, [targets[i]])[0]
        assert torch.equal(batched[i][0], single[0]) and torch.equal(batched[i][1], single[1])
        assert len(batched[i][0]) == len(targets[i]["boxes"])
    assert len(batched[1][0]) == 0
    empty = matcher(outputs, [{"boxes": torch.zeros(0, 4)} for _ in range(n)])
    assert all(len(r) == 0 and len(c) == 0 for r, c in empty)


def test_matcher_picks_the_obvious_assignment():
    matcher = HungarianMatcher(1.0, 1.0, 1.0)
    gt = torch.tensor([[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.9, 0.9]])
    preds = torch.tensor([[[0.6, 0.6, 0.9, 0.9], [0.0, 0.0, 0.05, 0.05], [0.1, 0.1, 0.3, 0.3]]])
    rows, cols = matcher({"logits": torch.zeros(1, 3, 2), "boxes": preds}, [{"boxes": gt}])[0]
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 2: 0}


def make_criterion():
    return SetCriterion(matcher=HungarianMatcher(2.0, 5.0, 2.0), class_weight=2.0,
                        l1_weight=5.0, giou_weight=2.0, action_weight=4.0, no_actor_weight=0.1)


def test_criterion_hand_computed_values():
    gt = torch.tensor([[0.1, 0.1, 0.5, 0.5]])
    outputs = {
        "logits": torch.tensor([[[2.0, 0.0], [1.0, 0.0]]]),
        "boxes": torch.tensor([[[0.15, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]]]),
        "actions": torch.tensor([[[0.0, 0.0], [5.0, 5.0]]]),
    }
    targets = [{"boxes": gt, "actions": torch.tensor([[1.0, 0.0]])}]
    losses = make_criterion()(outputs, targets)
    # proposal 0 matches (actor, CE log(1 + e^-2)); proposal 1 is no-actor (CE log(1 + e^1),
    # weight 0.1); weighted mean over proposals
    ce = (math.log(1 + math.exp(-2)) + 0.1 * math.log(1 + math.e)) / 1.1
    assert math.isclose(losses["loss_ce"].item(), 2 * ce, rel_tol=1e-5)
    assert math.isclose(losses["loss_bbox"].item(), 5 * 0.05, rel_tol=1e-5)
    # IoU = 0.35 * 0.4 / 0.16 = 0.875 and the enclosing box is the union: GIoU = 0.875
    assert math.isclose(losses["loss_giou"].item(), 2 * 0.125, rel_tol=1e-5)
    # BCE of logit 0 is log 2 for either label; mean over the 2 classes
    assert math.isclose(losses["loss_action"].item(), 4 * math.log(2), rel_tol=1e-5)


def test_criterion_normalizes_by_number_of_boxes_and_adds_aux():
    gt = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9]])
    pred = gt + torch.tensor([0.1, 0.0, 0.0, 0.0])
    outputs = {"logits": torch.zeros(1, 2, 2), "boxes": pred[None],
               "actions": torch.zeros(1, 2, 3),
               "aux_outputs": [{"logits": torch.zeros(1, 2, 2), "boxes": gt[None]}]}
    targets = [{"boxes": gt, "actions": torch.zeros(2, 3)}]
    losses = make_criterion()(outputs, targets)
    assert math.isclose(losses["loss_bbox"].item(), 5 * 0.1, rel_tol=1e-5)  # (0.1 + 0.1) / 2
    assert losses["loss_bbox_0"].item() == 0.0 and abs(losses["loss_giou_0"].item()) < 1e-6
    assert math.isclose(losses["loss_ce_0"].item(), 2 * math.log(2), rel_tol=1e-5)


def test_criterion_empty_targets():
    logits = torch.tensor([[[0.0, 1.0], [2.0, 0.0]], [[0.5, 0.5], [0.0, 0.0]]], requires_grad=True)
    outputs = {"logits": logits, "boxes": torch.rand(2, 2, 4).sort(-1)[0],
               "actions": torch.zeros(2, 2, 3, requires_grad=True)}
    targets = [{"boxes": torch.zeros(0, 4), "actions": torch.zeros(0, 3)} for _ in range(2)]
    losses = make_criterion()(outputs, targets)
    # every proposal is no-actor with the same weight: plain mean of -log p(no actor)
    expected = torch.nn.functional.cross_entropy(logits.detach().view(4, 2), torch.ones(4).long())
    assert math.isclose(losses["loss_ce"].item(), 2 * expected.item(), rel_tol=1e-5)
    assert losses["loss_bbox"].item() == 0 and losses["loss_action"].item() == 0
    sum(losses.values()).backward()
    assert logits.grad.abs().sum() > 0
