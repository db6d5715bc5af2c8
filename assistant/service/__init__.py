"""The service: the one composition root. It loads the model once, keeps the live index
generation (leased by each read, closed once retired), and answers, checks and writes."""

from assistant.service.core import Service
from assistant.service.live import Generation, LiveIndex
from assistant.service.memory import return_large_blocks_to_the_system

__all__ = ["Generation", "LiveIndex", "Service", "return_large_blocks_to_the_system"]
