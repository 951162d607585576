"""Moved to pomp_mm.benchmarks.runner and .miniworld.seeds; kept for this release."""  # noqa: E501
from pomp_mm.benchmarks.miniworld.seeds import (aggregate, cell,  # noqa: F401
                                                check_seeds, mean_std,
                                                outside_spread)
from pomp_mm.benchmarks.runner import (STAMP, cached_result,  # noqa: F401
                                       clear_stamp, file_digest, stage_key,
                                       stamp_matches, store_result,
                                       write_stamp)
