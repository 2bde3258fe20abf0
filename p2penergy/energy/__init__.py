"""Household energy models, pure computation below the services: scenarios (a community's
place, tariffs, households and weather), load and PV profiles, battery dispatch and islanding.
The simulation and the wallet's forecast both build on them."""
