"""The toy that opens notebook 01: gradient descent on a 2-D quadratic bowl with known curvatures, where
overshooting, the 2/λ rule, clipping and schedules are exact."""
from .bowl import Bowl, Path, descend, regime
from .figures import explore, paths_figure
from .lessons import clipping_verdict, regimes_verdict, schedule_verdict
