"""HTTP routes only: parse, call the service layer, shape the reply."""
