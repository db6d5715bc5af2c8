"""Answering questions: quoted, cited answers with calibrated confidence, and multi-turn chat."""

from assistant.answers.answering import ABSTAIN_TEXT, Answerer, check_question
from assistant.answers.calibration import Calibration
from assistant.answers.chat import Conversations, FollowUp, Turn, resolve, standalone_question

__all__ = ["ABSTAIN_TEXT", "Answerer", "Calibration", "Conversations", "FollowUp", "Turn",
           "check_question", "resolve", "standalone_question"]
