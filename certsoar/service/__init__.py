"""`certsoar serve`: the HTTP service (FastAPI) over certsoar.api."""
