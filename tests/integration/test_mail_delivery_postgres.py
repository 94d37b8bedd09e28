"""Delivery on PostgreSQL: a worker killed between the server's acceptance and its bookkeeping loses nothing
(the message goes again, same Message-ID, once the lease has passed), and two workers never send the same
message, nor a ticket's messages out of order."""
from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, CUSTOMER, L1, SOLUTION, complete_current, intake
from tests.integration.helpers import kinds
from tests.integration.mail_sink import SmtpSink
from tests.integration.mail_sink import outbox_rows as rows
from ticketflow.composition import deploy_file

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
# A worker that sends one message for real, then dies at once (SIGKILL: no finally, no rollback, no release).
KILLED_AFTER_SEND = """
import os, signal, sys
from engine.config import EngineConfig
from engine.usecases.outbox import OutboxDelivery
from mail.settings import MailSettings, SmtpServer
from mail.smtp import SmtpTransport
from ticketflow.composition import make_runtime

class DiesAfterSending(SmtpTransport):
    def deliver(self, item):
        answer = super().deliver(item)
        os.kill(os.getpid(), signal.SIGKILL)
        return answer

url, port = sys.argv[1], int(sys.argv[2])
transport = DiesAfterSending(MailSettings("help@support.example", SmtpServer("127.0.0.1", port, "plain"), 5.0))
OutboxDelivery(make_runtime(EngineConfig(database_url=url)), transport).deliver_due()
"""


def test_a_worker_killed_after_the_server_accepted_leaves_the_message_to_go_again_with_the_same_id(
        postgres_url: str, runtimes: Callable[..., Runtime], clock: FakeClock, smtp: SmtpSink) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_SEND, postgres_url, str(smtp.port)], cwd=REPO,
                            timeout=120, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    assert len(smtp.sink.received) == 1  # the server has it; the worker never said so
    (row,) = rows(runtime)
    assert (row.state, row.attempts) == ("pending", 1) and row.locked_until is not None
    clock.now = datetime.now(UTC)
    assert not smtp.delivery(runtime).deliver_due()  # the dead worker's lease still holds
    clock.now = row.locked_until + timedelta(seconds=1)
    assert len(smtp.delivery(runtime).deliver_due().delivered) == 1
    first, again = smtp.sink.received
    assert first["Message-ID"] == again["Message-ID"] == row.message_id  # recognisable as the same message
    assert [(r.state, r.attempts) for r in rows(runtime)] == [("delivered", 2)]
    assert kinds(runtime, number).count("message_delivered") == 1
    assert AuditService(runtime).replay(number).consistent


def test_two_workers_never_send_the_same_message_and_keep_each_tickets_order(
        postgres_url: str, runtimes: Callable[..., Runtime], smtp: SmtpSink) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    numbers = [runtime.open_ticket(intake(subject=f"Login fails {n}"), CUSTOMER).number for n in range(6)]
    for number in numbers:
        for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION)]:
            complete_current(runtime, number, actor, data)
    workers = [smtp.delivery(runtimes(postgres_url), batch=2) for _ in range(2)]
    reports = []
    start = threading.Barrier(2)

    def work(index: int) -> None:
        start.wait()
        reports.append(workers[index].deliver_due())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    queued = rows(runtime)
    ids = [str(m["Message-ID"]) for m in smtp.sink.received]
    assert len(queued) == 18 and sorted(ids) == sorted(r.message_id for r in queued)  # each once, none twice
    assert sum(len(r.delivered) for r in reports) == 18 and {r.state for r in queued} == {"delivered"}
    for number in numbers:
        in_order = [r.message_id for r in queued if f"[{number}]" in r.subject]
        assert [m["Message-ID"] for m in smtp.sink.by_ticket(number)] == in_order
        assert kinds(runtime, number).count("message_delivered") == 3
