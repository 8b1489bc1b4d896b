"""The token budget on what memory retrieval puts into a prompt (the paper's 512 tokens)."""

from __future__ import annotations

import pickle

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agile_gym.data.builtin import builtin_productqa_root
from agile_gym.memory.store import Memory, TokenizerCounter, count_pieces, make_token_counter, render_knowledge

_WORDS = st.text(alphabet="abcdefg lamp,.?!", min_size=0, max_size=60)


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(st.tuples(_WORDS, _WORDS), max_size=8),
    knowledge=st.lists(_WORDS, max_size=8),
    budget=st.integers(0, 80),
)
def test_token_budget_is_never_exceeded_and_keeps_the_best_first(history, knowledge, budget):
    memory = Memory("bm25")
    for question, answer in history:
        memory.add_history("p", question, answer)
    for text in knowledge:
        memory.add_knowledge("s", text)
    query = "lamp a b c d e f g"
    free = memory.retrieve(query, "p", "s", 8, 8)
    kept = memory.retrieve(query, "p", "s", 8, 8, token_budget=budget)
    used = sum(count_pieces(e.render()) for e, _ in kept.history)
    used += sum(count_pieces(render_knowledge(t)) for t, _ in kept.knowledge)
    assert used <= budget
    assert kept.history == free.history[: len(kept.history)]
    assert kept.knowledge == free.knowledge[: len(kept.knowledge)]


def test_env_prompt_respects_the_budget_with_the_policys_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    counter = make_token_counter(tmp_path)
    assert isinstance(counter, TokenizerCounter) and counter("Q: a lamp?\nA: yes") == 8  # Q : a lamp ? A : yes
    assert pickle.loads(pickle.dumps(counter))("a b") == 2
    env = gym.make(
        "agile/ProductQA-v2", data_dir=builtin_productqa_root(), category="kettles", memory_token_budget=25,
        token_counter=str(tmp_path), history_k=5, knowledge_k=5,
    )
    env.reset(seed=0)
    cut = 0
    for _ in range(30):
        _, _, terminated, truncated, info = env.step(env.unwrapped.expert().advice_action)
        if info["phase"] == "reflect":
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert().reflection_action)
        retrieved = env.unwrapped._retrieved
        used = sum(counter(e.render()) for e, _ in retrieved.history)
        used += sum(counter(render_knowledge(t)) for t, _ in retrieved.knowledge)
        assert used <= 25
        item = env.unwrapped._items[env.unwrapped._position] if not (terminated or truncated) else None
        if item is not None:
            free = env.unwrapped.memory.retrieve(item.question.question, env.unwrapped._history_key(item), item.scope,
                                                 5, 5)
            cut += len(free.history) + len(free.knowledge) > len(retrieved.history) + len(retrieved.knowledge)
        if terminated or truncated:
            break
    assert cut > 0  # the budget did bind on some questions


def test_bad_budget_and_counter_are_refused():
    with pytest.raises(ValueError, match="memory_token_budget"):
        gym.make("agile/ProductQA-v2", data_dir=builtin_productqa_root(), memory_token_budget=-1)
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        make_token_counter("/no/such/tokenizer")
    with pytest.raises(TypeError, match="token_counter"):
        make_token_counter(3)
