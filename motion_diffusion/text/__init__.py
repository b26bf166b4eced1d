"""Text encoders behind one interface (``minilm`` default, ``clip`` from local weights) and the embedding cache."""

from .cache import TEXT_ENCODERS, TextEmbedder, load_text_encoder, text_embedding_dim
from .clip import CLIPEncoder
from .minilm import MiniLMEncoder

__all__ = ["TEXT_ENCODERS", "CLIPEncoder", "MiniLMEncoder", "TextEmbedder", "load_text_encoder", "text_embedding_dim"]
