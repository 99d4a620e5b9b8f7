"""The DeepClean network, its scalers, checkpoint format and loss (torch).

Only the trainer and exporter environments have torch; nothing else imports
this package.
"""
