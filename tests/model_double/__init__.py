"""A stand-in for the Anthropic Messages API that plays scripted brains (see `brains.py` and `server.py`)."""

from tests.model_double.brains import BRAINS, DEFAULT_BRAIN, brain
from tests.model_double.conversation import Conversation
from tests.model_double.server import ModelDouble, Recorded, start

__all__ = ["BRAINS", "DEFAULT_BRAIN", "Conversation", "ModelDouble", "Recorded", "brain", "start"]
