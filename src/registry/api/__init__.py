"""HTTP interface: the Litestar app, its lifespan, problem answers and routes."""
