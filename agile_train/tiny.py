"""A small Llama and a tokenizer trained on the env's text: the offline, CPU-sized default model.

Both are saved as an ordinary Hugging Face folder and loaded back through `from_pretrained`, exactly as a
hub model would be, so the default run exercises the real loading path.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from agile_gym.files import publish_folder

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
# Part of the cache key: bump when the architecture or initialization changes.
TINY_FORMAT = 3
# General English the tokenizer also learns from, so text it was not trained on (held-out categories) is not cut
# into fragments: wordfreq's most frequent English words, each repeated so that their merges compete with the
# env's own text. Measured on the built-in data (tests/agile_train/test_tiny.py): held-out prompts went from
# 1.69x to 1.44x the characters per token of train prompts.
GENERAL_WORDS, GENERAL_REPEATS = 5000, 10


def general_english(words: int = GENERAL_WORDS, repeats: int = GENERAL_REPEATS) -> list[str]:
    """The `words` most frequent English words (PyPI's wordfreq, offline data), `repeats` times over."""
    try:
        from wordfreq import top_n_list
    except ImportError as error:
        raise ImportError(f"the tiny model's tokenizer needs wordfreq: pip install -e '.[train]' ({error})") from None
    return top_n_list("en", words) * repeats


def train_tokenizer(corpus: Iterable[str], vocab_size: int, general_words: int = GENERAL_WORDS,
                    chat_template: str | None = None, chat_tokens: tuple[str, ...] = (), chat_eos: str | None = None):
    """A BPE tokenizer over words marked with a leading '▁' (SentencePiece style, so decoding restores spaces),
    trained on `corpus` plus the `general_words` most common English words (`general_english`; 0: none).

    `chat_template` (a Jinja string, e.g. TRL's Qwen2.5 one, which TRL can parse tool calls from) is stored on the
    tokenizer; `chat_tokens` (e.g. "<|im_start|>", "<|im_end|>") become special tokens, one id each; `chat_eos`, one
    of them, replaces `</s>` as the end-of-sequence token, so generation stops where the template ends a turn."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first"),
         pre_tokenizers.Digits(individual_digits=True)]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS, UNK, *chat_tokens],
                                  show_progress=False)
    general = general_english(general_words) if general_words else []
    tokenizer.train_from_iterator(list(corpus) + general, trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, bos_id)])
    if chat_eos is not None and chat_eos not in chat_tokens:
        raise ValueError(f"chat_eos must be one of chat_tokens {chat_tokens}, got {chat_eos!r}")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token=chat_eos or EOS, pad_token=PAD,
                                   unk_token=UNK, chat_template=chat_template,
                                   extra_special_tokens=list(chat_tokens) if chat_tokens else None)


def build_tiny_model(output_dir: str | os.PathLike, corpus: Iterable[str], vocab_size: int = 2000,
                     hidden_size: int = 128, layers: int = 2, max_positions: int = 4096, seed: int = 0,
                     initializer_range: float = 0.1, general_words: int = GENERAL_WORDS,
                     chat_template: str | None = None, chat_tokens: tuple[str, ...] = (),
                     chat_eos: str | None = None) -> Path:
    """Train a tokenizer on `corpus` (and `general_words` common English words; the chat options as in
    `train_tokenizer`), initialize a Llama from a config, save both to `output_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(corpus, vocab_size, general_words, chat_template, tuple(chat_tokens), chat_eos)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 4,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden_size // 32),
        num_key_value_heads=max(1, hidden_size // 64),
        max_position_embeddings=max_positions, tie_word_embeddings=False, initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return publish_folder(output_dir, write)


def cached_tiny_model(corpus: list[str], cache_root: str | os.PathLike, **kwargs) -> Path:
    """`build_tiny_model` once per distinct corpus and settings; later calls reuse the saved folder."""
    digest = hashlib.sha256(json.dumps([TINY_FORMAT, corpus, sorted(kwargs.items())]).encode()).hexdigest()[:16]
    path = Path(cache_root) / "tiny-models" / digest
    if not (path / "config.json").exists():
        build_tiny_model(path, corpus, **kwargs)
    return path
