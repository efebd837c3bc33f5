"""The per-epoch log line, and log lines written around a shown progress bar."""

import io
import logging

from mspectmol.models.epoch_log import epoch_line, log_above_bar


def test_epoch_line_names_losses_scores_and_time():
    row = {"epoch": 3, "lr": 4e-4, "train_loss": 0.21041, "train_sup": 0.19, "train_mi1": 0.0,
           "val_micro_f1": 0.81234, "val_macro_f1": 0.5, "seconds": 12.34, "improved": 1}
    assert epoch_line(row, 100) == ("epoch 3/100: loss 0.2104 (sup 0.19, mi1 0), val "
                                    "micro-F1 0.8123 macro-F1 0.5000, 12.3 s, best")
    plain = {"epoch": 1, "train_loss": 0.5, "val_micro_f1": 0.1, "val_macro_f1": 0.2,
             "seconds": 1.0, "improved": 0}
    assert epoch_line(plain, 2) == "epoch 1/2: loss 0.5000, val micro-F1 0.1000 macro-F1 " \
                                   "0.2000, 1.0 s"
    decoder = {"epoch": 2, "train_loss": 2.5, "val_loss": 2.25, "seconds": 0.5, "improved": 1}
    assert epoch_line(decoder, 8) == "epoch 2/8: loss 2.5000, val loss 2.2500, 0.5 s, best"
    assert epoch_line({"epoch": 1, "train_loss": 1.0, "seconds": 2.0}, 1) == \
        "epoch 1/1: loss 1.0000, 2.0 s"


def test_log_above_bar_keeps_the_console_level(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logger = logging.getLogger("mspectmol")
    console = logging.StreamHandler(stream)
    console.setLevel(logging.INFO)
    old = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [console]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        with log_above_bar(True):
            assert console not in logger.handlers        # written through tqdm.write
            logger.info("shown")
            logger.debug("hidden")
        assert logger.handlers == [console]
        with log_above_bar(False):
            logger.info("plain")
    finally:
        logger.handlers[:], level, logger.propagate = old[0], old[1], old[2]
        logger.setLevel(level)
    text = stream.getvalue()
    assert "shown" in text and "plain" in text and "hidden" not in text
