"""smsgate campaigns on Celery workers, with the store in PostgreSQL.

- ``celery -A smsgate_celery worker``: a worker (any number, on any machine).
- ``smsgate-celery run FILE --gateway NAME --text ...`` (or ``smsgate campaign run ...
  --engine celery``): plan the campaign in the store and enqueue it.
- ``smsgate-celery status NAME``: rows per state, from the shared store, on any machine.

See ``docs/deployment.md``.
"""

from smsgate_celery.app import app

__all__ = ["app"]
