"""Held-out splits: class-balanced, disjoint, covering, deterministic, and read from the labels only."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from sahit.data import DataError, DataSplit, ImageFolderDataset, holdout_indices, make_dataset, pack_folder

SIZES = {"ant": 6, "bee": 5, "cat": 7}  # unequal classes


def parts(spec: str, holdout: int, resolution: int = 8, **kwargs) -> tuple[DataSplit, DataSplit]:
    train = make_dataset(spec, resolution, holdout=holdout, **kwargs)
    held = make_dataset(spec, resolution, holdout=holdout, split="holdout", **kwargs)
    return train, held


def test_split_is_class_balanced_disjoint_covering_and_keeps_the_attributes(image_folder):
    folder = image_folder("set", SIZES)
    whole = make_dataset(str(folder), 8)
    train, held = parts(str(folder), 6)
    assert np.bincount(held.labels).tolist() == [2, 2, 2]
    assert np.bincount(train.labels).tolist() == [n - 2 for n in SIZES.values()]
    assert not set(train.indices) & set(held.indices)
    assert sorted(train.indices + held.indices) == list(range(len(whole)))
    assert (len(train), len(held)) == (12, 6)
    for view in (train, held):
        assert view.num_classes == 3 and view.classes == list(SIZES)
        for j, i in enumerate(view.indices):  # item j of a part is item i of the whole, image and label
            assert torch.equal(view[j][0], whole[i][0]) and view[j][1] == whole[i][1]


def test_split_is_deterministic_and_independent_of_random_state(image_folder):
    folder = str(image_folder("set", SIZES))
    torch.manual_seed(1)
    np.random.seed(1)
    first = make_dataset(folder, 8, holdout=6, split="holdout", seed=1).indices
    torch.manual_seed(2)
    np.random.seed(2)
    assert make_dataset(folder, 8, holdout=6, split="holdout", seed=2).indices == first
    assert holdout_indices([0, 1, 2] * 100, 30).tolist() == holdout_indices([0, 1, 2] * 100, 30).tolist()


def test_holdout_indices_picks_equal_random_shares_of_each_class():
    labels = np.repeat([0, 1, 2, 3], [50, 20, 80, 30])
    held = holdout_indices(labels, 40)
    assert np.bincount(labels[held], minlength=4).tolist() == [10] * 4
    assert len(set(held.tolist())) == 40 and held.tolist() == sorted(held.tolist())
    # not simply the first images of each class: a random choice spread over the class
    assert held[labels[held] == 2].max() > 50 + 20 + 40
    assert holdout_indices(labels, 40, seed=1).tolist() != held.tolist()


def test_no_holdout_is_the_data_set_as_before(image_folder):
    folder = str(image_folder("set", SIZES))
    plain, zero = make_dataset(folder, 8), make_dataset(folder, 8, holdout=0)
    assert type(plain) is type(zero) is ImageFolderDataset
    assert list(zero.samples) == list(ImageFolderDataset(folder, 8).samples)


def test_zip_of_the_folder_splits_alike(image_folder):
    folder = image_folder("set", SIZES)
    pack_folder(folder, folder.parent / "set.zip", progress=False)
    assert parts(str(folder.parent / "set.zip"), 9)[1].indices == parts(str(folder), 9)[1].indices


def test_builtin_and_unlabelled_data(image_folder):
    train, held = parts("builtin", 20, resolution=16, length=100)
    assert np.bincount([held[j][1] for j in range(len(held))]).tolist() == [2] * 10
    assert len(train) == 80 and not set(train.indices) & set(held.indices)

    loose = str(image_folder("loose", loose=10))
    train, held = parts(loose, 4)  # unlabelled: any 4 images
    assert held.num_classes == 0 and len(held) == 4
    assert sorted(train.indices + held.indices) == list(range(10))


def test_a_split_survives_pickling(image_folder):  # DataLoader workers receive it pickled
    held = make_dataset(str(image_folder("set", SIZES)), 8, holdout=3, split="holdout")
    copy = pickle.loads(pickle.dumps(held))
    assert copy.indices == held.indices and copy.num_classes == 3 and torch.equal(copy[0][0], held[0][0])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"holdout": 5}, "does not divide over the 3 classes"),
    ({"holdout": 15}, "class 'bee' has 5: hold out at most 12"),
    ({"holdout": -3}, "holdout must be"),
    ({"holdout": 0, "split": "holdout"}, "needs holdout > 0"),
    ({"holdout": 3, "split": "test"}, "split must be one of train, holdout"),
    ({"holdout": 3, "train": False}, "training set"),
])
def test_bad_holdouts_are_refused_clearly(image_folder, kwargs, match):
    folder = str(image_folder("set", SIZES))
    with pytest.raises(DataError, match=match):
        make_dataset(folder, 8, **kwargs)


def test_unlabelled_holdout_must_leave_images_to_train_on(image_folder):
    loose = str(image_folder("loose", loose=4))
    with pytest.raises(DataError, match="leaves nothing to train on"):
        make_dataset(loose, 8, holdout=4)
