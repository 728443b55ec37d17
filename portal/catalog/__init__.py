"""What a business sells: packages (price, time, speed, data cap), in the order its Wi-Fi page shows."""
