"""The customer's pages: from the router's redirect to online.

Every page carries the device (router, MAC, IP, where it was going) in its links and forms, never in a
cookie: the phone's captive-portal window may not keep one (only the language, and the payment "my time"
shows, are remembered in one, as a convenience). A payment's page is found by its public
reference, which is unguessable; it shows no personal data beyond the masked phone number.

    pages.py         what every customer page shares: the device, its site, rendering
    paying.py        the packages (`/`), paying for one, following the payment, trying again,
                     cancelling, "my time" (`/me`), and the receipt typed for a payment whose outcome
                     is unknown
    online.py        the page of a device that has time: online, or being connected
    reconnect.py     the form where an access code, a voucher or an M-Pesa receipt gives a device access
    router_login.py  the login page each router fetches, which sends its devices here
    favicon.py       the icon every browser asks for
"""

from .favicon import favicon
from .paying import cancel, my_time, pay, payment_page, payment_receipt, payment_status, retry, splash
from .reconnect import reconnect, reconnect_form
from .router_login import router_login_page

HANDLERS = [
    splash,
    pay,
    payment_page,
    payment_status,
    retry,
    cancel,
    payment_receipt,
    my_time,
    reconnect_form,
    reconnect,
    router_login_page,
    favicon,
]
