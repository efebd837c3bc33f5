"""What a spectrum says without any simulation: 13C lines and 1H integrals per shift region,
and what a structure predicts for them."""
