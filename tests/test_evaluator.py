"""Evaluator networks (ours trained for a few epochs, Guo's from weights in the published format) and the
evaluation suite, on small folders whose captions name a motion "family" the features carry."""

import json
import pickle

import numpy as np
import pytest
import torch

from motion_diffusion import evaluate as evaluate_cli
from motion_diffusion import train as train_cli
from motion_diffusion.data.humanml3d import Caption, load_dataset, write_dataset
from motion_diffusion.evaluator import (
    EvalSettings,
    EvaluatorConfig,
    EvaluatorTrainConfig,
    GuoEvaluator,
    MotionSet,
    check_fingerprint,
    dataset_fingerprint,
    evaluate,
    fid,
    load_evaluator,
    load_motion_folder,
    r_precision,
    repeat_draws,
    run_evaluation,
    train_evaluator,
)
from motion_diffusion.evaluator.guo import POS_CLASSES, WordVectorizer
from motion_diffusion.evaluator.metrics import POOL_SIZE
from motion_diffusion.evaluator.suite import save_motion_folder
from motion_diffusion.evaluator.train import retrieval
from motion_diffusion.motion.skeleton import FEATURE_DIM, MIN_FRAMES

FAMILIES = ["walks forward", "jumps in place", "waves both arms", "sits down", "kicks", "turns", "crawls"]
TAGS = {"a": "DET", "person": "NOUN", "walks": "VERB", "forward": "ADV", "jumps": "VERB", "in": "ADP"}
SMALL = EvalSettings(repeats=3, diversity_pairs=40, mm_pairs=4)


def _caption(text):
    return Caption(text, tuple(f"{w}/{TAGS.get(w, 'NOUN')}" for w in text.split()))


def _write_families(root, num, seed):
    """Clips whose features carry a family pattern (fixed across seeds) plus noise; 70/10/20 % splits."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(123).normal(size=(len(FAMILIES), 2, FEATURE_DIM))
    clips = {}
    for i in range(num):
        k = i % len(FAMILIES)
        t = np.arange(rng.integers(MIN_FRAMES, 100))[:, None]
        wave = patterns[k, 0] * np.sin((0.1 + 0.05 * k) * t + rng.uniform(0, 6))
        features = wave + 0.5 * patterns[k, 1] + 0.3 * rng.normal(size=(len(t), FEATURE_DIM))
        clips[f"{i:06d}"] = (features.astype(np.float32), [_caption(f"a person {FAMILIES[k]}")])
    names = sorted(clips)
    cut = [int(0.7 * num), int(0.8 * num)]
    splits = {"train": names[: cut[0]], "val": names[cut[0] : cut[1]], "test": names[cut[1] :]}
    write_dataset(root, clips, splits)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _write_families(tmp_path_factory.mktemp("families"), 400, seed=0)


@pytest.fixture(scope="module")
def trained(data):
    config = EvaluatorTrainConfig(epochs=4, batch_size=32)
    architecture = EvaluatorConfig(width=32, layers=1, heads=2, ffn=64, embed_dim=16)
    return train_evaluator(data, data / "evaluator", config, architecture, progress=False)


@pytest.fixture(scope="module")
def test_split(data):
    return load_dataset(data, "test").entries


def _noised(entries, level, std, seed=0):
    rng = np.random.default_rng(seed)
    return [e.features + level * std * rng.normal(size=e.features.shape).astype(np.float32) for e in entries]


def test_training_saves_a_frozen_evaluator_with_the_data_fingerprint(trained, data, test_split):
    loaded = load_evaluator(data / "evaluator")
    assert loaded.fingerprint == trained.fingerprint == dataset_fingerprint(data)
    features = [e.features for e in test_split[:10]]
    embedded = trained.embed_motions(features)
    np.testing.assert_allclose(loaded.embed_motions(features), embedded, atol=1e-6)
    # an embedding does not depend on the batch it is computed in (padding is masked)
    np.testing.assert_allclose(trained.embed_motions(features[3:4]), embedded[3:4], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1.0, atol=1e-5)
    meta = json.loads((data / "evaluator" / "evaluator.json").read_text())
    assert meta["architecture"]["embed_dim"] == 16 and meta["train_config"]["seed"] == 0
    assert 1 <= meta["best_epoch"] <= 4 and len(meta["history"]) == 4
    # the loss went down and the kept epoch is the best on val
    assert meta["history"][-1]["loss"] < meta["history"][0]["loss"]
    best = max(sum(h[f"val_R@{k}"] for k in (1, 2, 3)) for h in meta["history"])
    assert sum(meta["val_retrieval"][f"R@{k}"] for k in (1, 2, 3)) == pytest.approx(best)


def test_real_test_retrieval_is_far_above_chance(trained, test_split):
    scores = retrieval(trained, test_split)
    assert scores["R@3"] > 4 * 3 / POOL_SIZE
    assert scores["R@1"] > 4 / POOL_SIZE


def test_real_vs_real_fid_is_near_zero_and_noise_fid_grows_monotonically(trained, data, test_split):
    embeddings = trained.embed_motions([e.features for e in test_split])
    half = len(embeddings) // 2
    real_vs_real = fid(embeddings[:half], embeddings[half:])
    std = load_dataset(data, "test").normalizer.std
    noised = [fid(embeddings, trained.embed_motions(_noised(test_split, s, std))) for s in (0.5, 1, 2, 4)]
    assert all(a < b for a, b in zip(noised, noised[1:], strict=False)), noised
    assert real_vs_real < 0.1 * noised[2]


def test_shuffled_captions_give_chance_r_precision(trained, test_split):
    text = trained.embed_texts([e.captions[0] for e in test_split])
    motion = trained.embed_motions([e.features for e in test_split])

    def draw(rng):
        hits, _ = r_precision(text[rng.permutation(len(text))], motion, rng)
        return {f"R@{k + 1}": h for k, h in enumerate(hits)}

    results = repeat_draws(draw, repeats=100, seed=0)
    for k in (1, 2, 3):
        assert results[f"R@{k}"].mean == pytest.approx(k / POOL_SIZE, abs=0.025)


def test_evaluation_is_deterministic_for_a_seed(trained, test_split):
    generated = MotionSet([e.features for e in test_split], [e.captions[0] for e in test_split])
    one = evaluate(trained, test_split, generated, SMALL, physics=None)
    two = evaluate(trained, test_split, generated, SMALL, physics=None)
    reseeded = EvalSettings(repeats=3, diversity_pairs=40, seed=1)
    other = evaluate(trained, test_split, generated, reseeded, physics=None)
    assert one == two
    assert one["real"]["fid"].values != other["real"]["fid"].values
    assert set(one["model"]) == {"R@1", "R@2", "R@3", "fid", "matching", "diversity"}


def test_an_evaluator_of_other_data_is_refused_unless_allowed(trained, tmp_path):
    other = _write_families(tmp_path / "other", 60, seed=5)
    with pytest.raises(ValueError, match="fingerprint"):
        check_fingerprint(trained, other)
    assert check_fingerprint(trained, other, allow_mismatch=True) == dataset_fingerprint(other)


def test_evaluate_command_on_a_generated_folder(trained, data, test_split, tmp_path, capsys):
    std = load_dataset(data, "test").normalizer.std
    mm = [(e.captions[0], _noised([e] * 6, 0.3, std, seed=i)) for i, e in enumerate(test_split[:5])]
    generated = MotionSet(_noised(test_split, 1.0, std), [e.captions[0] for e in test_split], mm)
    save_motion_folder(tmp_path / "gen", generated)
    assert len(load_motion_folder(tmp_path / "gen").multimodality) == 5
    argv = ["--data", str(data), "--generated", str(tmp_path / "gen"), "--out", str(tmp_path / "eval.json")]
    argv += ["--repeats", "2", "--diversity-pairs", "40", "--mm-pairs", "4", "--no-progress"]
    assert evaluate_cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "Real (test)" in table and "MM-Dist" in table and "skate_ratio" in table
    report = json.loads((tmp_path / "eval.json").read_text())
    real, model = report["rows"]["real"], report["rows"]["model"]
    assert model["multimodality"]["mean"] > 0 and "multimodality" not in real
    assert model["fid"]["mean"] > real["fid"]["mean"]
    assert len(model["R@1"]["values"]) == 2 and "physics/skate_ratio" in model
    assert report["data_fingerprint"] == trained.fingerprint


def test_bad_generated_input_is_a_clear_error(trained, data, test_split, tmp_path, capsys):
    captions = [e.captions[0] for e in test_split]
    features = [e.features for e in test_split]
    with pytest.raises(ValueError, match="too few"):
        evaluate(trained, test_split, MotionSet(features[:20], captions[:20]), SMALL, physics=None)
    nan = [f.copy() for f in features]
    nan[3][10, 5] = np.nan
    with pytest.raises(ValueError, match="generated motion 3 contains 1 NaN"):
        MotionSet(nan, captions)
    with pytest.raises(ValueError, match="263"):
        MotionSet([f[:, :200] for f in features], captions)
    save_motion_folder(tmp_path / "gen", MotionSet(features, captions))
    np.save(tmp_path / "gen" / "new_joint_vecs" / "000007.npy", nan[3])
    argv = ["--data", str(data), "--generated", str(tmp_path / "gen"), "--diversity-pairs", "40"]
    assert evaluate_cli.main(argv) == 2
    assert "NaN" in capsys.readouterr().err
    assert evaluate_cli.main(["--data", str(data), "--evaluator", str(tmp_path / "nothing")]) == 2
    assert "no evaluator" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cannot load"):
        evaluate(trained, test_split, None, SMALL, physics="physics_correct.metrics:no_such_function")


def test_checkpoint_path_generates_one_motion_per_test_entry(trained, data, test_split, tmp_path):
    run = tmp_path / "run"
    argv = ["--data", str(data), "--out", str(run), "--preset", "tiny", "--steps", "2", "--no-progress"]
    train_cli.main(argv)
    report, table = run_evaluation(
        data,
        ckpt=run,
        settings=EvalSettings(repeats=2, diversity_pairs=40, mm_pairs=2),
        physics=None,
        mm_texts=3,
        mm_samples=2,
        save_generated=tmp_path / "gen",
        progress=False,
        steps=2,
    )
    assert set(report["rows"]["model"]) >= {"R@3", "fid", "multimodality"}
    saved = load_motion_folder(tmp_path / "gen")
    assert len(saved) == len(test_split) and len(saved.multimodality) == 3
    assert [len(f) for f in saved.features] == [len(e.features) // 4 * 4 for e in test_split]
    assert (run / "evaluation.json").is_file() and "Model" in table


# Guo et al.'s evaluator: parameter names and shapes of the published finest.tar, written from this spec
# (not from our modules), so loading checks that our networks match the original layout.
GUO_SPEC = {
    "movement_encoder": {
        "main.0.weight": (512, 259, 4), "main.0.bias": (512,), "main.3.weight": (512, 512, 4),
        "main.3.bias": (512,), "out_net.weight": (512, 512), "out_net.bias": (512,),
    },
    "motion_encoder": {
        "input_emb.weight": (1024, 512), "input_emb.bias": (1024,),
        **{f"gru.{w}_l0{d}": s for d in ("", "_reverse")
           for w, s in (("weight_ih", (3072, 1024)), ("weight_hh", (3072, 1024)),
                        ("bias_ih", (3072,)), ("bias_hh", (3072,)))},
        "output_net.0.weight": (1024, 2048), "output_net.0.bias": (1024,), "output_net.1.weight": (1024,),
        "output_net.1.bias": (1024,), "output_net.3.weight": (512, 1024), "output_net.3.bias": (512,),
        "hidden": (2, 1, 1024),
    },
    "text_encoder": {
        "pos_emb.weight": (300, 15), "pos_emb.bias": (300,), "input_emb.weight": (512, 300),
        "input_emb.bias": (512,),
        **{f"gru.{w}_l0{d}": s for d in ("", "_reverse")
           for w, s in (("weight_ih", (1536, 512)), ("weight_hh", (1536, 512)),
                        ("bias_ih", (1536,)), ("bias_hh", (1536,)))},
        "output_net.0.weight": (512, 1024), "output_net.0.bias": (512,), "output_net.1.weight": (512,),
        "output_net.1.bias": (512,), "output_net.3.weight": (512, 512), "output_net.3.bias": (512,),
        "hidden": (2, 1, 512),
    },
}  # fmt: skip
VOCABULARY = ["sos", "eos", "unk", "a", "person", "walk", "forward", "jump", "left", "in"]


@pytest.fixture(scope="module")
def guo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guo")
    generator = torch.Generator().manual_seed(0)
    state = {
        net: {k: torch.randn(shape, generator=generator) * 0.05 for k, shape in spec.items()}
        for net, spec in GUO_SPEC.items()
    }
    torch.save({**state, "epoch": 12, "iter": 3400}, folder / "finest.tar")
    rng = np.random.default_rng(0)
    np.save(folder / "mean.npy", rng.normal(size=FEATURE_DIM).astype(np.float32))
    np.save(folder / "std.npy", rng.uniform(0.5, 1.5, FEATURE_DIM).astype(np.float32))
    (folder / "glove").mkdir()
    np.save(folder / "glove" / "our_vab_data.npy", rng.normal(size=(len(VOCABULARY), 300)).astype(np.float32))
    (folder / "glove" / "our_vab_words.pkl").write_bytes(pickle.dumps(VOCABULARY))
    (folder / "glove" / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(VOCABULARY)}))
    return folder


def test_guo_evaluator_loads_the_published_format_and_embeds(guo_folder, test_split):
    guo = load_evaluator(guo_folder)
    assert isinstance(guo, GuoEvaluator) and guo.fingerprint is None
    features = [e.features for e in test_split[:6]]
    motion = guo.embed_motions(features)
    assert motion.shape == (6, 512) and np.isfinite(motion).all()
    # batching and padding do not change an embedding (packed GRUs, zero padding as the original loaders)
    np.testing.assert_allclose(guo.embed_motions(features[:1]), motion[:1], atol=1e-5)
    captions = [_caption("a person walks forward"), _caption("a person jumps in place"), _caption("a person")]
    text = guo.embed_texts(captions)
    assert text.shape == (3, 512) and len({tuple(np.round(t, 6)) for t in text}) == 3
    np.testing.assert_allclose(guo.embed_texts(captions[2:]), text[2:], atol=1e-5)


def test_guo_word_vectors_follow_the_original_token_rules(guo_folder):
    words = WordVectorizer(guo_folder / "glove")
    vectors = np.load(guo_folder / "glove" / "our_vab_data.npy")
    vector, pos = words.token("left/VERB")  # a listed location word overrides spaCy's tag
    np.testing.assert_array_equal(vector, vectors[VOCABULARY.index("left")])
    assert POS_CLASSES[int(pos.argmax())] == "Loc_VIP" and pos.sum() == 1
    vector, pos = words.token("zebra/NOUN")  # out of vocabulary: unk / OTHER
    np.testing.assert_array_equal(vector, vectors[VOCABULARY.index("unk")])
    assert POS_CLASSES[int(pos.argmax())] == "OTHER"
    assert POS_CLASSES[int(words.token("person/NOUN")[1].argmax())] == "NOUN"
    vecs, onehots, length = words.caption(["a/DET"] * 25)
    assert vecs.shape == (22, 300) and onehots.shape == (22, 15) and length == 22
    _, _, length = words.caption(["a/DET", "person/NOUN"])
    assert length == 4


def test_guo_loading_refuses_missing_files_and_code_in_pickles(guo_folder, tmp_path):
    with pytest.raises(ValueError, match="mean.npy is missing"):
        GuoEvaluator.load(tmp_path, checkpoint=guo_folder / "finest.tar")
    glove = tmp_path / "glove"
    glove.mkdir()
    for name in ("our_vab_data.npy", "our_vab_idx.pkl"):
        (glove / name).write_bytes((guo_folder / "glove" / name).read_bytes())
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps(np.float64))  # a global: refused, never imported
    with pytest.raises(ValueError, match="only plain data"):
        WordVectorizer(glove)
    torch.save({"text_encoder": {}, "motion_encoder": {}}, tmp_path / "finest.tar")
    with pytest.raises(ValueError, match="lacks movement_encoder"):
        stats = {"mean": guo_folder / "mean.npy", "std": guo_folder / "std.npy"}
        GuoEvaluator.load(tmp_path, glove_dir=guo_folder / "glove", **stats)
