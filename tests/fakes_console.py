"""Hand-written fakes for the console's adapters."""

from __future__ import annotations

from server.services.tracker_sync import Resume, TrackerSyncError


class FakeTrackerSync:
    """Records what the bot's tracker was told on each release; can be made to fail."""

    def __init__(self) -> None:
        self.resumes: list[tuple[str, Resume]] = []
        self.fail = False

    def resume(self, sender: str, resume: Resume) -> None:
        if self.fail:
            raise TrackerSyncError("rasa down")
        self.resumes.append((sender, resume))
