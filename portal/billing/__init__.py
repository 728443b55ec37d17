"""The money: M-Pesa payments from prompt to paid, money paid by hand (C2B), vouchers, the codes that
turn any of them into access, and what the owner reads about it all."""
