"""Wrappers that change one thing each about an agile env."""

from agile_gym.answerer import MemoryAnswerer, Proposal
from agile_gym.wrappers.advice_decision import FEATURES, AdviceDecisionWrapper
from agile_gym.wrappers.chat_messages import ChatMessages
from agile_gym.wrappers.session_advantage import SessionAdvantage

__all__ = ["FEATURES", "AdviceDecisionWrapper", "ChatMessages", "MemoryAnswerer", "Proposal", "SessionAdvantage"]
