"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""
from b24app import create_app

app = create_app()
