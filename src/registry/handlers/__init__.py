"""The service layer: one function per command (validate, decide, gate, append, answer), in the
manner of cosmicpython's service_layer/handlers.py. Nothing here knows HTTP."""
