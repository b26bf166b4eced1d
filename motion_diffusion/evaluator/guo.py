"""The published text-motion evaluator of Guo et al. (CVPR 2022), loaded from its original files.

With it, numbers on the real HumanML3D test split are comparable to published tables (T2M, MDM, MoMask ...).
Nothing is downloaded: the user provides these files (from the text-to-motion / MDM download scripts),
either in one folder or by naming each path in ``GuoEvaluator.load``::

    GUO_DIR/
      finest.tar         checkpoints/t2m/text_mot_match/model/finest.tar: a torch checkpoint (dict) whose
                         entries "movement_encoder", "text_encoder", "motion_encoder" are the state dicts of
                         the three networks below, with the original key names
      mean.npy, std.npy  the evaluator's (263,) normalisation: MDM's dataset/t2m_mean.npy and t2m_std.npy, or
                         text-to-motion's checkpoints/t2m/Comp_v6_KLD01/meta/mean.npy and std.npy (NOT the
                         dataset's Mean.npy/Std.npy: the root and contact groups differ by a factor of ~25)
      glove/             the GloVe subset: our_vab_data.npy (N, 300) float vectors, our_vab_words.pkl (list of
                         N words), our_vab_idx.pkl (dict word -> row); must contain "sos", "eos" and "unk"

Motions are normalised with that Mean/Std, the 4 contact dims are dropped, they are zero-padded to
MAX_FRAMES (as the original loaders do: the last movement token sees the padding), and lengths go in as
``frames // UNIT_LENGTH``. Captions are read from their spaCy ``word/POS`` tokens (the second field of a
HumanML3D text line): cropped to MAX_TEXT_TOKENS, wrapped in sos/eos, each token a GloVe vector plus a
15-class part-of-speech one-hot in which listed "VIP" words override spaCy's tag.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..data.humanml3d import Caption
from ..motion.normalize import Normalizer
from ..motion.skeleton import CONTACTS, MAX_FRAMES, UNIT_LENGTH
from .base import embed_in_batches, motion_batch

CHECKPOINT_FILE = "finest.tar"
MEAN_FILE, STD_FILE = "mean.npy", "std.npy"
GLOVE_DIR = "glove"
GLOVE_PREFIX = "our_vab"
CHECKPOINT_KEYS = ("movement_encoder", "text_encoder", "motion_encoder")

# Sizes of the published networks (text-to-motion's evaluator options).
WORD_DIM = 300
MOVEMENT_HIDDEN = 512
MOVEMENT_LATENT = 512
MOTION_HIDDEN = 1024
TEXT_HIDDEN = 512
EMBED_DIM = 512
MAX_TEXT_TOKENS = 20
LEAKY_SLOPE = 0.2
DROPOUT = 0.2

# Part-of-speech classes (one-hot order) and the words whose class overrides spaCy's tag.
POS_CLASSES = (
    "VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
    "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER",
)  # fmt: skip
VIP_WORDS = {
    "Loc_VIP": (
        "left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
        "up", "down", "straight", "curve",
    ),
    "Body_VIP": (
        "arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
        "thigh",
    ),
    "Obj_VIP": (
        "stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball",
    ),
    "Act_VIP": (
        "walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
        "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll", "rub",
        "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb",
    ),
    "Desc_VIP": (
        "slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
        "angrily", "sadly",
    ),
}  # fmt: skip
SOS, EOS, UNK, OTHER = "sos", "eos", "unk", "OTHER"


class MovementConvEncoder(nn.Module):
    """Two stride-2 convolutions over time and a linear layer: ``(B, T, in)`` -> ``(B, T / 4, out)``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(DROPOUT),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(DROPOUT),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(motion.transpose(1, 2)).transpose(1, 2))


class _BiGRUCo(nn.Module):
    """Input projection, a bidirectional GRU with a learned initial state, and the co-embedding head."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(hidden_size, output_size),
        )
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def _encode(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.input_emb(inputs)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.repeat(1, len(inputs), 1).contiguous())
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


class MotionEncoderBiGRUCo(_BiGRUCo):
    """Movement latents ``(B, T / 4, 512)`` and their lengths -> ``(B, 512)`` motion embeddings."""

    def forward(self, movements: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._encode(movements, lengths)


class TextEncoderBiGRUCo(_BiGRUCo):
    """Word vectors ``(B, L, 300)``, POS one-hots ``(B, L, 15)`` and sentence lengths -> ``(B, 512)``."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int):
        super().__init__(word_size, hidden_size, output_size)
        self.pos_emb = nn.Linear(pos_size, word_size)

    def forward(self, words: torch.Tensor, pos: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._encode(words + self.pos_emb(pos), lengths)


class _PlainDataUnpickler(pickle.Unpickler):
    """Reads pickles of plain lists/dicts/strings/numbers only: no code from a file is ever run."""

    def find_class(self, module, name):
        raise ValueError(f"refusing {module}.{name} in a word-vector pickle: only plain data is allowed")


def _read_pickle(path: Path):
    with open(path, "rb") as f:
        return _PlainDataUnpickler(f).load()


class WordVectorizer:
    """GloVe vectors and POS one-hots for ``word/POS`` tokens, as Guo's evaluator reads captions."""

    def __init__(self, glove_dir, prefix: str = GLOVE_PREFIX):
        glove_dir = Path(glove_dir)
        paths = [glove_dir / f"{prefix}_{s}" for s in ("data.npy", "words.pkl", "idx.pkl")]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise ValueError(f"GloVe folder {glove_dir} lacks {', '.join(missing)} (see {__name__})")
        vectors = np.load(paths[0], allow_pickle=False)
        words, index = _read_pickle(paths[1]), _read_pickle(paths[2])
        if vectors.ndim != 2 or vectors.shape[1] != WORD_DIM or len(words) != len(vectors):
            expected = (len(words), WORD_DIM)
            raise ValueError(f"{paths[0]} must have shape {expected} (as {paths[1].name}): {vectors.shape}")
        for special in (SOS, EOS, UNK):
            if special not in index:
                raise ValueError(f"GloVe vocabulary in {glove_dir} has no {special!r} entry")
        self.vectors = {w: vectors[index[w]].astype(np.float32) for w in words}
        self.vip = {word: cls for cls, listed in VIP_WORDS.items() for word in listed}

    @staticmethod
    def pos_onehot(tag: str) -> np.ndarray:
        onehot = np.zeros(len(POS_CLASSES), np.float32)
        onehot[POS_CLASSES.index(tag) if tag in POS_CLASSES else POS_CLASSES.index(OTHER)] = 1
        return onehot

    def token(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """Vector and POS one-hot of one ``word/POS`` token; unknown words read as ``unk/OTHER``."""
        word, _, tag = token.partition("/")
        if word not in self.vectors:
            return self.vectors[UNK], self.pos_onehot(OTHER)
        return self.vectors[word], self.pos_onehot(self.vip.get(word, tag))

    def caption(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """``(L, 300)`` vectors, ``(L, 15)`` one-hots, real length (sos + tokens + eos); padded with unk."""
        tokens = [f"{SOS}/{OTHER}", *list(tokens)[:MAX_TEXT_TOKENS], f"{EOS}/{OTHER}"]
        length = len(tokens)
        tokens += [f"{UNK}/{OTHER}"] * (MAX_TEXT_TOKENS + 2 - length)
        words, pos = zip(*(self.token(t) for t in tokens), strict=True)
        return np.stack(words), np.stack(pos), length


class GuoEvaluator:
    """Guo et al.'s networks with their weights, Mean/Std and word vectors (see the module docstring)."""

    fingerprint = None  # trained on the real HumanML3D; no fingerprint of ours

    def __init__(self, state: dict, normalizer: Normalizer, words: WordVectorizer, device="cpu"):
        missing = [k for k in CHECKPOINT_KEYS if k not in state]
        if missing:
            raise ValueError(f"the checkpoint lacks {', '.join(missing)}: expected Guo's finest.tar")
        self.movement_encoder = MovementConvEncoder(CONTACTS.start, MOVEMENT_HIDDEN, MOVEMENT_LATENT)
        self.text_encoder = TextEncoderBiGRUCo(WORD_DIM, len(POS_CLASSES), TEXT_HIDDEN, EMBED_DIM)
        self.motion_encoder = MotionEncoderBiGRUCo(MOVEMENT_LATENT, MOTION_HIDDEN, EMBED_DIM)
        for key in CHECKPOINT_KEYS:
            network = getattr(self, key)
            try:
                network.load_state_dict(state[key])
            except RuntimeError as err:
                kind = type(network).__name__
                raise ValueError(f"checkpoint entry {key!r} does not fit Guo's {kind}: {err}") from None
            network.to(device).eval()
        self.normalizer = normalizer
        self.words = words
        self.device = torch.device(device)
        self.name = "guo2022"

    @classmethod
    def load(cls, folder=None, checkpoint=None, mean=None, std=None, glove_dir=None, device="cpu"):
        """Load from ``folder`` laid out as in the module docstring; any path can also be given on its own."""
        folder = Path(folder) if folder is not None else None

        def path(given, default: str) -> Path:
            if given is None and folder is None:
                raise ValueError(f"give the folder of Guo's evaluator or the path of its {default}")
            return Path(given) if given is not None else folder / default

        checkpoint, mean, std = path(checkpoint, CHECKPOINT_FILE), path(mean, MEAN_FILE), path(std, STD_FILE)
        for p in (checkpoint, mean, std):
            if not p.is_file():
                raise ValueError(f"{p} is missing: Guo's evaluator needs the files listed in {__name__}")
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"cannot read {checkpoint} as a torch checkpoint of state dicts: {err}") from err
        normalizer = Normalizer(np.load(mean, allow_pickle=False), np.load(std, allow_pickle=False))
        return cls(state, normalizer, WordVectorizer(path(glove_dir, GLOVE_DIR)), device)

    @torch.no_grad()
    def embed_motions(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """``(N, 512)`` embeddings of un-normalised ``(T, 263)`` features (first 196 frames, whole units)."""

        def embed(batch):
            motion, lengths = motion_batch(batch, self.normalizer, self.device, frames=MAX_FRAMES)
            return self.motion_encoder(self.movement_encoder(motion), lengths // UNIT_LENGTH).cpu().numpy()

        return embed_in_batches(features, embed, "motions")

    @torch.no_grad()
    def embed_texts(self, captions: Sequence[Caption]) -> np.ndarray:
        """``(N, 512)`` embeddings of captions, read from their ``word/POS`` tokens."""
        captions = list(captions)
        if not captions:
            raise ValueError("no captions given to embed")
        empty = [i for i, c in enumerate(captions) if not getattr(c, "tokens", None)]
        if empty:
            raise ValueError(f"Guo's evaluator reads word/POS tokens; captions {empty[:5]} have none")

        def embed(batch):
            words, pos, lengths = zip(*(self.words.caption(c.tokens) for c in batch), strict=True)
            words, pos = (torch.from_numpy(np.stack(x)).to(self.device) for x in (words, pos))
            return self.text_encoder(words, pos, torch.tensor(lengths)).cpu().numpy()

        return embed_in_batches(captions, embed, "captions")
