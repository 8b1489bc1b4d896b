"""A tiny tool-calling model for the integration tests: the tiny Llama with TRL's Qwen2.5 chat template, warmed up
on tool-call transcripts of MedMCQA sessions so that its sampled replies are tool calls with varied answers.

Built once per cache folder (about 1 minute on 2 cores) and reused: the folder's name hashes its settings.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from pathlib import Path

from agile_gym.integrations.tool_session import ToolSession
from agile_gym.integrations.trl import SESSION_PROMPT, environment_factory

ENV_ID = "agile/MedMCQA-v2"
ENV_KWARGS = {"max_questions": 1}
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>")
WARMUP_FORMAT = 1  # bump when the warm-up changes (the transcripts are part of the key)
SESSIONS, STEPS, LEARNING_RATE = 48, 90, 3e-3


def listed(factory: type) -> list[str]:
    """The method names TRL 1.16 lists on an environment class (its rule, `GRPOTrainer.__init__`): public
    functions of the class, `reset` and `get_reward` being reserved."""
    return [name for name, _ in inspect.getmembers(factory, predicate=inspect.isfunction)
            if not name.startswith("_") and name not in ("reset", "get_reward")]


def transcripts(sessions: int = SESSIONS, seed: int = 0) -> list[list[dict]]:
    """Chat transcripts of one-question MedMCQA sessions played by tool calls: a random option letter (most
    often) or advice followed by a reflection, then a closing reply."""
    rng = random.Random(seed)
    conversations = []
    for row in range(sessions):
        session = ToolSession(ENV_ID, shuffle=True, **ENV_KWARGS)
        messages = [{"role": "user", "content": f"{SESSION_PROMPT}\n\n{session.reset(seed=row)}"}]
        calls = ([("seek_advice", {}), ("reflect", {"knowledge": ""})] if rng.random() < 0.25 else
                 [("answer", {"answer": (letter := rng.choice("ABCD")), "short_answer": letter})])
        for name, arguments in calls:
            messages.append({"role": "assistant", "content": "",
                             "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}]})
            messages.append({"role": "tool", "name": name, "content": session.call(name, arguments)})
        messages.append({"role": "assistant", "content": "Done."})
        conversations.append(messages)
    return conversations


def tiny_tool_model(cache_root: Path) -> Path:
    """The warmed-up tiny tool-calling model's folder under `cache_root` (built on the first call)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import qwen2_5_chat_template

    from agile_train.tiny import build_tiny_model, train_tokenizer

    factory = environment_factory(ENV_ID, **ENV_KWARGS)
    instance = factory()
    tools = [getattr(instance, name) for name in listed(factory)]
    conversations = transcripts()
    key = json.dumps([WARMUP_FORMAT, SESSIONS, STEPS, LEARNING_RATE, qwen2_5_chat_template, listed(factory),
                      conversations])
    folder = Path(cache_root) / "tiny-tool-models" / hashlib.sha256(key.encode()).hexdigest()[:16]
    if (folder / "warm" / "config.json").exists():
        return folder / "warm"
    # The tokenizer learns the rendered transcripts: render them with a throwaway tokenizer holding the template.
    scratch = train_tokenizer(["x"], 300, 0, qwen2_5_chat_template, CHAT_TOKENS, "<|im_end|>")
    corpus = [scratch.apply_chat_template(messages, tools=tools, tokenize=False) for messages in conversations]
    base = build_tiny_model(folder / "base", corpus, vocab_size=1200, general_words=0,
                            chat_template=qwen2_5_chat_template, chat_tokens=CHAT_TOKENS, chat_eos="<|im_end|>")
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    texts = [tokenizer.apply_chat_template(messages, tools=tools, tokenize=False) for messages in conversations]
    encoded = [tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][0] for text in texts]
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    generator = random.Random(0)
    model.train()
    for _ in range(STEPS):
        batch = generator.sample(encoded, 4)
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)], labels[row, : len(ids)] = ids, ids
        loss = model(input_ids=input_ids, attention_mask=(labels != -100).long(), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder / "warm")
    tokenizer.save_pretrained(folder / "warm")
    return folder / "warm"
