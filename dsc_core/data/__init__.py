"""Where stereo pairs come from (no ROS imports: bags are read with the pure-Python ``rosbags``).

* :func:`open_pairs` (``pairs.py``) -- the one entry point: a spec string (``motorcycle``,
  ``synthetic:N``, a KITTI / Middlebury / ``left``+``right`` folder, a split file, a bag) -> a lazy
  :class:`PairSequence` of :class:`StereoPair`.
* ``synthetic.py`` -- rendered KITTI-like stereo scenes with exact disparity and occlusion (training data
  that needs no download, and a held-out synthetic evaluation set).
* ``kitti.py``, ``middlebury.py``, ``folders.py``, ``bags.py`` -- the individual loaders.
* ``photos.py`` -- the offline photographs (level-1 training, synthetic textures).
"""

from dsc_core.data.pairs import PairSequence, StereoPair, open_pairs

__all__ = ["PairSequence", "StereoPair", "open_pairs"]
