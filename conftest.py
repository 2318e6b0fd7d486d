"""Root pytest configuration: notebooks and tests run at the `smoke` scale unless the caller chose one."""
import os

os.environ.setdefault("SKIPLESSONS_SCALE", "smoke")
