"""Paid time on the routers: sessions and their rules, the outbox that carries them to the routers, the
worker that runs it, the sync that repairs drift, and the routers (sites) themselves."""
