"""Lentera fleet: the city's side — ingest from thousands of gateways, faults, complaints."""
