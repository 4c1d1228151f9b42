"""movavg: keep a Keras LSTM moving-average forecaster fresh as time-series files arrive."""

__version__ = "0.1.0"
