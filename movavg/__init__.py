"""movavg: keep Keras LSTM moving-average forecasters fresh as time-series files arrive.

`movavg.Forecaster` is the in-memory core (no Prefect, no folders); the pipeline (`movavg run`, the flows in
`movavg.flows`) wraps the same code in cached Prefect tasks.
"""

from movavg.forecaster import Forecaster

__all__ = ["Forecaster", "__version__"]
__version__ = "0.1.0"
