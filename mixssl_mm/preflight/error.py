# Copyright (c) mixssl_mm contributors. All rights reserved.


class ConfigError(ValueError):
    """A bad input found before training; the message names the fix."""
