"""Data-parallel training under torchrun: the process group and its helpers live in :mod:`artlens.distributed`.

Kept so that ``from artlens.train.distributed import init_distributed`` goes on working.
"""

from ..distributed import (DistContext, broadcast_object, check_in_sync, gather_objects,
                           init_distributed, is_main_process, reduce_sums, shard_indices, shared_counter)

__all__ = ["DistContext", "broadcast_object", "check_in_sync", "gather_objects", "init_distributed",
           "is_main_process", "reduce_sums", "shard_indices", "shared_counter"]
