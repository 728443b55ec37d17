"""The app as `portal serve` runs it, beyond what its pages do."""

import gc

from portal.app import create_app
from portal.cli.serving import portal_listening
from tests.conftest import on_two_ports


async def test_serving_puts_what_start_up_built_out_of_the_collectors_reach(settings, clock, vault, store):
    settings = on_two_ports(settings)
    app = create_app(settings, clock=clock, vault=vault)
    gc.unfreeze()
    try:
        async with portal_listening(app, settings, tls=None):
            services = app.state.services
            assert gc.get_freeze_count() > 0
            assert not any(tracked is services for tracked in gc.get_objects())
    finally:
        gc.unfreeze()  # the frozen objects are of this test's app only
