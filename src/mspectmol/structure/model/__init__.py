"""The SMILES decoder: tokens and formulas, the Transformer, what it reads (memory features),
its files, its variants and its training domain."""
