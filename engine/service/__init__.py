"""The background engine: one process per runs folder that owns the queue and the device
lanes and runs the ordinary threaded `Trainer` / `SweepRunner`, so training outlives the
terminal, the SSH session and the dashboard that started it.

Clients (the CLI, the dashboard) import `engine.service.client` only; everything else here
runs inside the engine process (`python -m engine.service --runs-dir DIR`). The run store
stays the truth: the engine writes run folders exactly as a foreground `cnnlab train` does.

    paths       where the engine's files live (<runs>/.engine/, the socket's place)
    lock        one engine per runs folder (flock)
    protocol    the versioned JSON-lines messages and the event registry
    events      what the engine itself announces (queue state, entries, snapshots)
    queue_store the on-disk queue
    jobs        a queue entry checked, then built into a Trainer or SweepRunner
    lanes       one worker thread per lane, one job at a time
    live        what a client attaching mid-run is sent to redraw everything so far
    sessions    one client connection (bounded, never blocking the engine)
    server      the engine process (asyncio unix server)
    spawn       starting it detached
    client      EngineClient, for the CLI and the dashboard
"""
