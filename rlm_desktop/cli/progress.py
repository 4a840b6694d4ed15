"""tqdm glue for every CLI command. The core reports progress as small event objects with
``stage``, ``done``, ``total`` and ``message`` (``InstallProgress``, scan progress, ...);
``StageProgress`` is a callback that draws them as one bar at a time on stderr.

    with StageProgress("qwen2.5-coder-0.5b", unit="B") as bar:
        install(entry, progress=bar)

A new bar starts when the total changes or the count goes backwards (a new phase, such as
verifying after downloading); otherwise the bar keeps going and its label follows the
stage, so a download that alternates "download" and "assemble" is one bar."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Any, Protocol

from tqdm import tqdm


class ProgressEvent(Protocol):
    @property
    def stage(self) -> str: ...
    @property
    def done(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def message(self) -> str: ...


class StageProgress:
    def __init__(
        self,
        label: str = "",
        unit: str = "B",
        *,
        file: IO[str] | None = None,
        disable: bool | None = None,
        skip_stages: tuple[str, ...] = ("check", "done"),
    ) -> None:
        """``disable=None`` draws only on a terminal (tqdm's rule); ``skip_stages`` are
        events that carry no amount of work and would only flash an empty bar."""
        self.label = label
        self.unit = unit
        self.file = file if file is not None else sys.stderr
        self.disable = disable
        self.skip_stages = skip_stages
        self._bar: tqdm | None = None
        self._total: int | None = None
        self._desc = ""
        self._message = ""
        self.last: ProgressEvent | None = None  # the latest event, for a summary line after

    def __call__(self, event: ProgressEvent) -> None:
        self.last = event
        if event.stage in self.skip_stages:
            if event.stage == "done":
                self.close()
            return
        total = event.total or None
        desc = f"{self.label}: {event.stage}" if self.label else event.stage
        if self._bar is None or total != self._total or event.done < self._bar.n:
            self.close()
            self._bar = tqdm(desc=desc, **self._bar_args(total))
            self._total = total
            self._desc = desc
        if desc != self._desc:
            self._bar.set_description_str(desc, refresh=False)
            self._desc = desc
        if event.message != self._message:
            # short notes ("part 2/6") fit beside the bar; long ones are for logs and the GUI
            self._bar.set_postfix_str(event.message if len(event.message) <= 24 else "", refresh=False)
            self._message = event.message
        self._bar.update(event.done - self._bar.n)

    def _bar_args(self, total: int | None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "total": total,
            "unit": self.unit,
            "file": self.file,
            "disable": self.disable,
            "leave": True,
            "dynamic_ncols": True,
        }
        if self.unit == "B":
            args.update(unit_scale=True, unit_divisor=1024)
        return args

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._total = None
        self._desc = ""
        self._message = ""

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
