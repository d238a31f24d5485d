"""Settings in layers: `base`, then one of `local`, `test` or `production`."""
