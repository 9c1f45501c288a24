"""The collector is tuned for a long-running gateway: startup's objects frozen, young objects collected less often."""

import gc

from quantdesk.process import COLLECTOR_THRESHOLDS, tune_collector


def test_tuning_freezes_startup_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        tune_collector()
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # this test session's modules, functions and classes
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
