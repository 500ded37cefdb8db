"""Shared fixtures. Each area adds its own below its heading; keep them small."""

from __future__ import annotations

# --- simulator fixtures (sim, sim_server) ---
