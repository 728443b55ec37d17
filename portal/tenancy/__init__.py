"""Tenants (the hotspot businesses on this box), the admins who run them, and what they did (audit)."""
