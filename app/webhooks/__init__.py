"""Outbound webhooks (Standard Webhooks): endpoints per session, signed deliveries in seq
order, retried with backoff, from every process (``worker``), to public addresses only
(``http``)."""
