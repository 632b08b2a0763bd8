"""The TUI's state model: what the panes render, fetched and streamed in one place.

Panes hold no fetch loops. One `Refresher` per app reads every backend once per tick (a `Snapshot`) and the
focused endpoint's events and metrics (an `EndpointDetail`); `LogStreams` owns the one log stream on screen,
keyed by its target; `RolloutTracker` turns successive deployment views into rollout timelines. Nothing here
imports Textual: the screens wire these to widgets, and the model is tested without an app.
"""
