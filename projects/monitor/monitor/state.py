"""The monitor's persisted state: one JSON file, written atomically.

It holds the sequencer's cursor, the canary validation in progress and the
newest verdicts, and the pending and newest promotions (each bounded). The
carousel and the spool hold the rest (frames, what is still to be
archived).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from utils.atomic import move_aside
from utils.atomic import write_text
from utils.logging import Outage

logger = logging.getLogger(__name__)

SCHEMA = 1  # bump when the layout changes incompatibly


class StateStore:
    """Loads and saves ``state.json``.

    Args:
        path: the file; its folder is created.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last = ""
        self._failing = Outage(logger)  # saves failing: said once

    def load(self) -> dict:
        """The saved state, or ``{}`` (none, unreadable or another schema:
        a file that does not parse is moved aside, one that cannot be read
        is left, and either is logged)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            logger.error(
                "cannot read the state %s: %s; rebuilding from the carousel",
                self.path,
                exc,
            )
            return {}
        try:
            state = json.loads(text)
            if state.get("schema") != SCHEMA:
                raise ValueError(f"schema {state.get('schema')} != {SCHEMA}")
        except (ValueError, AttributeError) as exc:
            # kept aside; on a read-only disk left where it is
            aside = move_aside(self.path)
            logger.warning(
                "state %s unusable (%s): %s; rebuilding from the carousel",
                self.path,
                exc,
                f"moved aside to {aside}" if aside else "left in place",
            )
            return {}
        self._last = text
        return state

    def save(self, state: dict) -> bool:
        """Write ``state`` if it changed (temporary file, fsync, rename).
        A failed write (a full or read-only disk) is logged, once until a
        write works again, and never raised: the monitor goes on, and a
        restart meanwhile resumes from the last state saved.

        Returns:
            Whether it was written.
        """
        text = json.dumps({**state, "schema": SCHEMA}, sort_keys=True)
        if text == self._last:
            return False
        try:
            write_text(self.path, text, fsync=True)
        except OSError as exc:
            self._failing.failed(
                "cannot save the state %s: %s; going on (a restart would "
                "resume from the last state saved)",
                self.path,
                exc,
            )
            return False
        if self._failing.ended():
            logger.info("state %s saved again", self.path)
        self._last = text
        return True
