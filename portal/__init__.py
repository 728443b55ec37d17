"""portal: Wi-Fi hotspot billing for MikroTik routers, paid with M-Pesa."""

__version__ = "0.1.0"
