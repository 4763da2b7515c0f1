"""The subscription revenue timeline plugin. Under construction: rebuilds nothing yet."""
