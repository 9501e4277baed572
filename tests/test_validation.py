"""The validation split: seeds disjoint from train and test, and the train and test batches it must leave
byte for byte as they were (published tables come from them)."""
import dataclasses
import hashlib

import pytest
from hydra.utils import get_class

from tasks import HELD_OUT_STEPS, TEST, TRAIN, VAL, generator


def digest(batch) -> str:
    """A short hash of every tensor a batch holds, in field order."""
    h = hashlib.sha256()
    for f in dataclasses.fields(batch):
        t = getattr(batch, f.name)
        if t is not None:
            h.update(f.name.encode())
            h.update(t.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def make(target: str, **kw):
    return get_class(target)(**kw)


# generator seeds and batch hashes computed with the code as it was before the validation split existed
GENERATOR_SEEDS = {(0, 0, TEST): 4213034415, (0, 1, TRAIN): 151149761, (7, 0, TEST): 2799192570,
                   (7, 123, TRAIN): 177079733, (2**31 - 1, 2**31 - 1, TRAIN): 1399421094, (3, 5, TEST): 2869327307}
BATCHES = [  # (task, kwargs, train step 1, train step 17, {test length: test batch}) at batch 8, seed 3
    ("tasks.copy_memory.Copy", {"length": 6}, "f91e1467b2554386", "c4ef307317c6f861",
     {6: "9553f9417cfa2b93"}),
    ("tasks.adding.Adding", {"length": 10}, "50f6f05d7f302c2f", "4ec060839ba10c67",
     {10: "1cb10d5d6ec34192"}),
    ("tasks.adding.Adding", {"length": 24, "style": "hochreiter"}, "336f21cf1a8c60b9", "88c9015f9aed9431",
     {24: "275f9329983a955d"}),
    ("tasks.temporal_order.TemporalOrder", {"length": 20}, "6480c537b3654be4", "a20c2621344380a9",
     {20: "b483c3ce33bce3c8"}),
    ("tasks.assoc_recall.AssocRecall", {"length": 12}, "2705b69e01202a47", "31b12db1968609ed",
     {12: "57eb7157570f9948"}),
    ("tasks.reber.Reber", {"length": 30}, "2255dade9f47570d", "69e918e07039e98b",
     {30: "e0c399dd7ca9f28a"}),
    ("tasks.reber.Reber", {"length": 20, "continual": True, "test_length": 5000},
     "ce276cc74df4709b", "603e662f1bcd6115", {5000: "f43b906f772791cd"}),
    ("tasks.parity.Parity", {"length": 9, "test_lengths": [12]}, "4338b8e612eb6710", "0ca3ceff7f35797a",
     {9: "1cefb28dc3505b46", 12: "57925da381fd4c48"}),
    ("tasks.mod_add.ModAdd", {"length": 7, "test_length": 10}, "484801b35a86a80e", "2eb988220add6fe9",
     {10: "5bdbfceb123eb9cf"}),
    ("tasks.selective_copy.SelectiveCopy", {"length": 20}, "da21620580fda48c", "9f4dbf2866bd2d9e",
     {20: "af4ce5057733ce48"}),
    ("tasks.multiplication.Multiplication", {"length": 10}, "42c8d90a4493681c", "427ab68917de2c73",
     {10: "ad754e04cc04fb2b"}),
]


IDS = [f"{b[0].split('.')[-1]}-{i}" for i, b in enumerate(BATCHES)]


@pytest.mark.parametrize("seed, step, split", list(GENERATOR_SEEDS))
def test_train_and_test_generator_seeds_are_unchanged(seed, step, split):
    assert generator(seed, step, split, "cpu").initial_seed() == GENERATOR_SEEDS[seed, step, split]


@pytest.mark.parametrize("target, kw, train1, train17, tests", BATCHES, ids=IDS)
def test_train_and_test_batches_are_unchanged(target, kw, train1, train17, tests):
    task = make(target, **kw)
    assert (digest(task.batch(8, 3, 1, "cpu")), digest(task.batch(8, 3, 17, "cpu"))) == (train1, train17)
    assert {n: digest(b) for n, b in task.test_batches(8, 3, "cpu").items()} == tests


def test_validation_seeds_are_held_out_and_not_the_tests():
    def seeds(split, steps):
        return {generator(s, step, split, "cpu").initial_seed() for s in range(200) for step in steps}

    val, test, train = seeds(VAL, [0, 1]), seeds(TEST, [0, 1]), seeds(TRAIN, range(1, 4))
    assert len(val) == 400 and len(test) == 400 and len(train) == 600
    assert all(v >> 31 == 1 for v in val) and all(t >> 31 == 0 for t in train)  # the split bit, by construction
    assert not val & test  # distinct steps of the held-out half (a 2^-31 chance per pair, not a construction)
    with pytest.raises(AssertionError):  # a test step in validation's range would break the disjointness
        generator(0, HELD_OUT_STEPS, TEST, "cpu")


@pytest.mark.parametrize("target, kw", [b[:2] for b in BATCHES], ids=IDS)
def test_train_val_and_test_batches_differ_and_val_is_a_pure_function(target, kw):
    task = make(target, **kw)
    test = next(iter(task.test_batches(8, 3, "cpu").values()))
    val = task.val_batch(8, 3, "cpu")
    train = task.batch(8, 3, 1, "cpu")
    assert val.x.shape == test.x.shape and val.y.shape == test.y.shape  # the primary test's twin
    assert len({digest(val), digest(test), digest(train)}) == 3
    assert digest(task.val_batch(8, 3, "cpu")) == digest(val)
    assert digest(task.val_batch(8, 4, "cpu")) != digest(val)
