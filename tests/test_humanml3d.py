"""Reading and writing HumanML3D-layout folders, including malformed files."""

import numpy as np
import pytest

from motion_diffusion.data.humanml3d import (
    Caption,
    DatasetError,
    load_dataset,
    parse_caption_line,
    read_captions,
    write_clip,
    write_dataset,
    write_splits,
)
from motion_diffusion.motion import Normalizer
from motion_diffusion.motion.skeleton import FEATURE_DIM


def _make_folder(root, lengths=(60, 80, 120, 30, 250), seed=0):
    rng = np.random.default_rng(seed)
    names = []
    for i, length in enumerate(lengths):
        name = f"{i:06d}"
        captions = [
            Caption(f"a person does thing {i}", ("a/DET", "person/NOUN", "do/VERB", "thing/NOUN")),
            Caption(f"someone moves {i}", ("someone/PRON", "move/VERB")),
        ]
        if i == 2:  # a sub-span caption over frames 20..80 (1 s to 4 s)
            captions.append(Caption("then the person waves", ("then/ADV", "person/NOUN", "wave/VERB"), 1.0, 4.0))
        write_clip(root, name, rng.normal(size=(length, FEATURE_DIM)), captions)
        names.append(name)
    write_splits(root, {"train": names, "test": names[:1]})
    Normalizer(np.zeros(FEATURE_DIM), np.ones(FEATURE_DIM)).save(root)
    return names


def test_round_trip_and_loader_conventions(tmp_path):
    _make_folder(tmp_path)
    ds = load_dataset(tmp_path, "train")
    keys = [e.key for e in ds.entries]
    # 30 frames (< 40) and 250 frames (>= 200) are dropped; the sub-span becomes an entry of its own.
    assert keys == ["000000", "000001", "000002", "000002#1-4"]
    sub = ds.entries[-1]
    assert sub.features.shape == (60, FEATURE_DIM)
    np.testing.assert_array_equal(sub.features, ds.entries[2].features[20:80])
    assert [c.text for c in sub.captions] == ["then the person waves"]
    assert len(ds.entries[2].captions) == 2  # only whole-clip captions describe the whole clip
    assert ds.entries[0].captions[0].tokens == ("a/DET", "person/NOUN", "do/VERB", "thing/NOUN")
    assert ds.mean.shape == (FEATURE_DIM,) and ds.skipped == []
    assert (tmp_path / "all.txt").read_text().split() == ["000000", "000001", "000002", "000003", "000004", "000000"]


def test_caption_line_parsing():
    c = parse_caption_line("a man walks#a/DET man/NOUN walk/VERB#nan#nan", "x:1")
    assert c.whole_clip and c.tokens == ("a/DET", "man/NOUN", "walk/VERB")
    assert parse_caption_line(c.to_line(), "x:1") == c
    with pytest.raises(DatasetError, match="x:3: expected"):
        parse_caption_line("no separators here", "x:3")
    with pytest.raises(DatasetError, match="numbers"):
        parse_caption_line("a#b/DET#zero#1", "x:4")
    with pytest.raises(DatasetError, match="span"):
        parse_caption_line("a#b/DET#3#1", "x:5")


def _corrupt(root, kind):
    if kind == "nan rows":
        f = np.load(root / "new_joint_vecs/000001.npy")
        f[7, 3] = np.nan
        np.save(root / "new_joint_vecs/000001.npy", f)
        return r"000001.npy: NaN/Inf in 1 frame\(s\), first at frame 7"
    if kind == "wrong width":
        np.save(root / "new_joint_vecs/000001.npy", np.zeros((50, 251)))
        return r"000001.npy: features must have shape \(T, 263\)"
    if kind == "missing captions":
        (root / "texts/000001.txt").unlink()
        return "000001.txt: caption file is missing"
    if kind == "bad line":
        path = root / "texts/000001.txt"
        path.write_text(path.read_text() + "a broken line without fields\n")
        return "000001.txt:3: expected"
    if kind == "missing features":
        (root / "new_joint_vecs/000001.npy").unlink()
        return "000001.npy: feature file is missing"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["nan rows", "wrong width", "missing captions", "bad line", "missing features"])
def test_malformed_file_strict_raises_and_lenient_skips(tmp_path, kind):
    _make_folder(tmp_path)
    message = _corrupt(tmp_path, kind)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path, "train", strict=True)
    ds = load_dataset(tmp_path, "train", strict=False)
    assert [name for name, _ in ds.skipped] == ["000001"]
    assert [e.key for e in ds.entries] == ["000000", "000002", "000002#1-4"]  # the others are untouched


def test_missing_folder_and_split_give_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    _make_folder(tmp_path)
    with pytest.raises(DatasetError, match="val.txt: split file is missing"):
        load_dataset(tmp_path, "val")


def test_write_clip_rejects_bad_features_and_leaves_no_partial_file(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_clip(tmp_path, "x", np.full((50, FEATURE_DIM), np.nan), [Caption("a", ("a/DET",))])
    with pytest.raises(ValueError, match="caption"):
        write_clip(tmp_path, "x", np.zeros((50, FEATURE_DIM)), [])
    assert not any(tmp_path.rglob("*.npy"))


def test_read_captions_names_an_empty_file(tmp_path):
    (tmp_path / "a.txt").write_text("\n")
    with pytest.raises(DatasetError, match="no caption"):
        read_captions(tmp_path / "a.txt")


def test_write_dataset_computes_stats_from_the_train_split(tmp_path):
    rng = np.random.default_rng(3)
    cap = [Caption("a person jumps", ("a/DET", "person/NOUN", "jump/VERB"))]
    clips = {f"c{i}": (rng.normal(loc=i, size=(50, FEATURE_DIM)), cap) for i in range(4)}
    write_dataset(tmp_path, clips, {"train": ["c0", "c1"], "test": ["c3"]})
    ds = load_dataset(tmp_path, "train")
    expected = np.concatenate([clips["c0"][0], clips["c1"][0]]).mean(0)
    np.testing.assert_allclose(ds.mean, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="not given"):
        write_dataset(tmp_path, clips, {"train": ["zz"]})


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    """Temporary files and folders are private (0600/0700); what lands must follow the umask like open() does."""
    import os
    import stat

    from motion_diffusion.motion.files import atomic_folder, write_text

    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_folder(tmp_path / "folder"):
            pass
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755
