"""The courier service: assigns couriers to orders, level-triggered from `order-events`."""
