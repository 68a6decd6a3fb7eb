"""The experiment YAMLs, shipped inside the package as ``pe_rllib.tune_configs`` (see setup.py)."""
