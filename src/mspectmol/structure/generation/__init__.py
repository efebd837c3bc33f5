"""Where candidate structures are generated: beam search and sampling of a decoder, and the
evidence-conditioned generator with its training corpus."""
