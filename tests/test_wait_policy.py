"""How tinyconv sets the OpenMP wait policy at import (tinyconv/__init__.py).

Each case imports tinyconv in a fresh interpreter: libgomp reads these variables once, when it
loads, so they can only be checked in a process that has not imported tinyconv yet.
"""

import json
import os
import subprocess
import sys

import pytest

KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _env_after_import(**preset):
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update(preset)
    # the tinyconv these tests import (installed, or built in place), not the source tree's
    import tinyconv
    where = os.path.dirname(os.path.dirname(os.path.abspath(tinyconv.__file__)))
    env["PYTHONPATH"] = where + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import json, os, tinyconv; "
            f"d = {{k: os.environ.get(k) for k in {KEYS!r}}}; "
            "d['shown'] = tinyconv._parallel._wait_policy; print(json.dumps(d))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_is_passive_with_a_short_spin():
    got = _env_after_import()
    assert got.pop("shown") == "tinyconv's default: spin 3000 rounds, then sleep (PASSIVE)"
    assert got == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000"}


@pytest.mark.parametrize("preset", [
    {"OMP_WAIT_POLICY": "ACTIVE"},
    {"OMP_WAIT_POLICY": "PASSIVE"},           # the user's PASSIVE means no spin at all
    {"GOMP_SPINCOUNT": "0"},
    {"GOMP_SPINCOUNT": "100000", "OMP_WAIT_POLICY": "passive"},
])
def test_a_users_setting_is_left_alone(preset):
    got = _env_after_import(**preset)
    assert got.pop("shown").startswith("yours: ")
    assert got == {k: preset.get(k) for k in KEYS}


def test_show_config_prints_the_wait_policy(capsys):
    import tinyconv
    tinyconv.show_config()
    out = capsys.readouterr().out
    assert "OpenMP wait:  " + tinyconv._parallel._wait_policy in out
