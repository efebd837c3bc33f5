"""Ranking candidates: score terms and weights, simulated spectra and their match with the
observed ones, the pre-filter of large pools, the second stage and library search."""
