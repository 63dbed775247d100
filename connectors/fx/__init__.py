"""Foreign exchange reference rates (ECB) and conversions that carry their rate, date and source."""

from connectors.fx.ecb import BASE, Conversion, EcbRates, FxError, FxRate, apply_rate

__all__ = ["BASE", "Conversion", "EcbRates", "FxError", "FxRate", "apply_rate"]
