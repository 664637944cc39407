"""`certsoar serve`: the HTTP service (DESIGN §9). app.py builds the FastAPI app (create_app), identity.py
checks who calls, runs.py executes accepted runs in the background, metrics.py counts. Everything here
goes through certsoar.api, never the runner or the store."""
