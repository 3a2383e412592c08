"""The Celery application: ``celery -A smsgate_celery worker``.

Settings that carry the delivery rules across workers (why each is set):

- ``task_acks_late``: a message is acknowledged after its task returns, so a worker killed
  mid-task does not lose it (the broker redelivers it). A redelivered task claims again from
  the store: the store row is the lock, never the message.
- ``task_reject_on_worker_lost``: a pool child killed mid-task (SIGKILL, OOM) has its message
  requeued, not acknowledged. Safe here because a task is idempotent (it only claims what is
  claimable) and does not kill its worker by itself (no message loop).
- ``worker_prefetch_multiplier = 1``: a worker holds one message per process, not four.
- ``worker_cancel_long_running_tasks_on_connection_loss``: a task whose broker connection
  dropped is cancelled, not left running beside its redelivered copy (the lease fences it
  anyway).
- Redis ``visibility_timeout`` (1 hour) is far above a sweep's countdown (a lease): delayed
  tasks are not redelivered while they wait.
"""

from __future__ import annotations

from celery import Celery

from smsgate_celery.settings import Settings


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    app = Celery("smsgate_celery", broker=settings.broker, include=["smsgate_celery.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
    )
    app.conf.smsgate = settings
    return app


app = make_app()
