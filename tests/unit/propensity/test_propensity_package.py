"""The propensity package: its public names, and a light import for the command line."""

from __future__ import annotations

import subprocess
import sys

import tastemaker.propensity as propensity
from tastemaker.propensity.model import PropensityModel
from tastemaker.propensity.training import train_propensity


def test_every_public_name_resolves_to_its_module_object() -> None:
    assert propensity.PropensityModel is PropensityModel
    assert propensity.train_propensity is train_propensity
    for name in propensity.__all__:
        assert getattr(propensity, name) is not None, name
    assert set(propensity.__all__) <= set(dir(propensity))


def test_importing_the_option_types_does_not_load_models_or_training() -> None:
    code = (
        "import sys, tastemaker.propensity.examples, tastemaker.propensity.features\n"
        "heavy = ('lightgbm', 'sklearn', 'tastemaker.propensity.training',"
        " 'tastemaker.propensity.scorer', 'tastemaker.propensity.model')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
