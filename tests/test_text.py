"""Text encoders (real MiniLM, a tiny random CLIP built here) and the per-caption embedding cache."""

import string

import numpy as np
import pytest
import torch

from motion_diffusion.text import CLIPEncoder, MiniLMEncoder, TextEmbedder, load_text_encoder, text_embedding_dim

CAPTIONS = ["a person walks forward", "someone is walking ahead", "a person does a cartwheel"]


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


class CountingEncoder:
    """The real encoder, counting the captions it is asked to encode."""

    def __init__(self, encoder):
        self.inner = encoder
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        return self.inner.encode(texts)


def test_minilm_embeddings_are_unit_norm_and_meaningful(minilm):
    assert isinstance(minilm, MiniLMEncoder)
    emb = minilm.encode(CAPTIONS)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    walk, walk2, cartwheel = emb
    assert walk @ walk2 > walk @ cartwheel + 0.2
    np.testing.assert_allclose(minilm.encode(CAPTIONS[:1])[0], walk, atol=1e-5)
    assert text_embedding_dim("minilm") == 384


def test_each_distinct_caption_is_encoded_once_and_cached_on_disk(minilm, tmp_path):
    counting = CountingEncoder(minilm)
    embedder = TextEmbedder("minilm", cache_dir=tmp_path, encoder=counting)
    first = embedder.embed([CAPTIONS[0], CAPTIONS[1], CAPTIONS[0]])
    again = embedder.embed([CAPTIONS[1], CAPTIONS[2]])
    assert counting.seen == CAPTIONS  # duplicates and repeats were never re-encoded
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first[1], again[0])
    embedder.save()
    (cache_file,) = tmp_path.glob("text_embeddings_*.npz")

    reread = TextEmbedder("minilm", cache_dir=tmp_path)  # no encoder given: it would load one on a miss
    np.testing.assert_array_equal(reread.embed(CAPTIONS[::-1]), embedder.embed(CAPTIONS[::-1]))
    assert reread._encoder is None, "a fully cached request must not load the encoder"
    assert len(reread) == 3 and CAPTIONS[2] in reread

    np.savez(cache_file, texts=np.array(["x"]), embeddings=np.zeros((1, 7), np.float32))
    with pytest.raises(ValueError, match="does not match encoder"):
        TextEmbedder("minilm", cache_dir=tmp_path)


def test_bad_encoder_requests_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown text encoder"):
        TextEmbedder("bert")
    with pytest.raises(ValueError, match="needs local weights"):
        TextEmbedder("clip")
    with pytest.raises(ValueError, match="does not exist"):
        load_text_encoder("clip", clip_path=tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="lacks tokenizer_config.json, model weights"):
        TextEmbedder("clip", clip_path=tmp_path)
    with pytest.raises(ValueError, match="list of captions"):
        TextEmbedder("minilm", encoder=object()).embed("one string")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A small random CLIP text tower and a character-level BPE tokenizer, saved as a local folder."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny_clip")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=24,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    return folder


def test_clip_loads_from_a_local_folder_and_pools_the_end_token(tiny_clip):
    encoder = load_text_encoder("clip", clip_path=tiny_clip)
    assert isinstance(encoder, CLIPEncoder) and encoder.dim == 24
    batch = encoder.encode(["a person jumps high", "kick"])
    assert batch.shape == (2, 24) and np.isfinite(batch).all()
    # Padding the short caption in a batch must not change its embedding (pooled at its own end token).
    np.testing.assert_allclose(encoder.encode(["kick"])[0], batch[1], atol=1e-5)
    assert np.abs(batch[0] - batch[1]).max() > 1e-3


def test_clip_width_and_cache_key_come_from_the_folder_without_loading(tiny_clip, tmp_path):
    embedder = TextEmbedder("clip", clip_path=tiny_clip, cache_dir=tmp_path)
    assert embedder.dim == 24 and embedder._encoder is None
    assert embedder.cache_key.startswith("clip:")
    assert embedder.embed(["walk"]).shape == (1, 24)
    assert embedder.cache_key == embedder.encoder.cache_key
