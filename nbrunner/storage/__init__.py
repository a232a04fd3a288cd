"""The stores a run reads from and writes to, keyed by URI scheme: the seam (:mod:`~nbrunner.storage.base`: the
``Store`` protocol, the registry, ``locate``, ``Stores``) and its stores (``s3``)."""

from nbrunner.storage.base import STORES, Store, Stores, locate

__all__ = ["STORES", "Store", "Stores", "locate"]
