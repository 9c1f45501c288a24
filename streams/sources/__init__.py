"""Where input events come from: the simulator, replay files, stored inputs on restore, and chain ingest."""
