"""skiplessons: the library behind the executable book on Orhan & Pitkow (2018),
*Skip Connections Eliminate Singularities*."""

__version__ = "0.1.0"

from .env import setup  # noqa: E402,F401
