"""No tables here. The module exists because Django sends post_migrate only to apps that have one
(referendum/apps.py grants the app role its rights then)."""
