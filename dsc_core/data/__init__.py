"""Where stereo pairs come from (no ROS imports: bags are read with the pure-Python ``rosbags``).

* :func:`open_pairs` (``pairs.py``) -- the one entry point: a spec string (``motorcycle``,
  ``synthetic:N``, a KITTI / Middlebury / ``left``+``right`` folder, a split file, a bag) -> a lazy
  :class:`PairSequence` of :class:`StereoPair`.
* ``types.py`` -- :class:`StereoPair` and :class:`PairSequence`, what every source returns (the loaders
  import it, never ``pairs.py``).
* ``synthetic/`` -- rendered KITTI-like stereo scenes with exact disparity and occlusion (training data
  that needs no download, and a held-out synthetic evaluation set); one concept a module.
* ``photo_stereo.py`` -- stereo pairs made from single photographs (generated geometry, real appearance).
* ``kitti.py``, ``middlebury.py``, ``folders.py``, ``bags.py`` -- the individual loaders.
* ``photos.py`` -- the offline photographs (level-1 training, synthetic textures).
"""

from dsc_core.data.pairs import open_pairs
from dsc_core.data.types import PairSequence, StereoPair

__all__ = ["PairSequence", "StereoPair", "open_pairs"]
