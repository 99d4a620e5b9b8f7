"""The newest frame of a folder by GPS, and how long ago it was written:
``run.sh NAME status``'s input and carousel lines.

    .venv/<svc>/bin/python scripts/newest_frame.py DIR

A frame named for a second that has not begun is a stray, not the newest
(:func:`utils.follower.split_begun`, as the services judge it): it is
left out, and counted. Prints one line: ``none``, or ``NAME, written N s
ago`` with ``(K frames of seconds not begun left out)`` where there are.
"""

import os
import sys
import time

from utils.follower import split_begun
from utils.names import list_frames


def main(argv: list[str]) -> int:
    """Describe the folder ``argv[0]``; see the module docstring."""
    frames = {frame.gps: frame.path for frame in list_frames(argv[0])}
    begun, ahead = split_begun(frames)
    if not begun:
        line = "none"
    else:
        path = frames[begun[-1]]
        try:
            age = time.time() - os.stat(path).st_mtime
            line = f"{os.path.basename(path)}, written {age:.0f} s ago"
        except OSError:  # removed since the listing
            line = os.path.basename(path)
    if ahead:
        frames = "frame" if len(ahead) == 1 else "frames"
        line += f" ({len(ahead)} {frames} of seconds not begun left out)"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
