"""Root pytest configuration: notebooks and tests run at the `smoke` scale unless the caller chose one.

Tests and notebook kernels use one thread each: `make test` runs two notebooks at a time on two cores, and
the tiny nets of the tests run faster on one thread than on two that contend."""
import os

os.environ.setdefault("SKIPLESSONS_SCALE", "smoke")
os.environ.setdefault("OMP_NUM_THREADS", "1")
