import os
import sys

# op_cases.py sits next to the tests; make it importable however pytest is invoked.
sys.path.insert(0, os.path.dirname(__file__))

import importlib.util  # noqa: E402

if os.environ.get("TINYCONV_REQUIRE_ORACLE", "") not in ("", "0"):
    if importlib.util.find_spec("torch") is None:
        raise RuntimeError("TINYCONV_REQUIRE_ORACLE is set but PyTorch (the test oracle) is not "
                           "installed: pip install torch==2.13.0")
