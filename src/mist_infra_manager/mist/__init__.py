"""The Mist REST API: client, collector, call budget and caches."""
