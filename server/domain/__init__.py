"""Pure domain logic: no I/O, no frameworks. Everything here is testable in isolation."""
