"""kill -9 a worker mid-send and start another: nobody is texted twice, nothing is lost.

The worker is a real `recado worker` process sending over SMPP to a local SMSC run by
this test, so the SMSC's record is the ground truth of what reached the carrier.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select, update

from recado.carriers.smpp.smsc import LocalSmsc
from recado.db.tables import CarrierConnection, Message, Route, Sender
from recado.delivery.dispatcher import DEFAULT_WINDOW
from recado.ids import new_id
from recado.platform import Platform
from recado.services import messaging
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace

MESSAGES = 400


def start_worker(db_url: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RECADO_DATABASE_URL": db_url,
        "RECADO_SUBMIT_LEASE_SECONDS": "2",
        "RECADO_CLAIM_LEASE_SECONDS": "4",
        "RECADO_DISPATCH_BATCH_SIZE": "50",
        "RECADO_DISPATCH_IDLE_SECONDS": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "recado", "worker"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_until(check, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_killed_worker_never_causes_a_second_text_and_loses_nothing(
    platform: Platform, workspace: NewWorkspace, db_url: str, tmp_path: Path
):
    async with LocalSmsc(receipt_delay=0.0) as smsc:
        ws = workspace.workspace.id
        async with platform.sessions() as session:
            connection = CarrierConnection(
                id=new_id("cc"),
                workspace_id=ws,
                name="local-smsc",
                kind="smpp",
                config={"host": "127.0.0.1", "port": smsc.port, "system_id": "recado"},
                enabled=True,
            )
            session.add(connection)
            await session.flush()
            session.add(
                Route(id=new_id("rt"), workspace_id=ws, prefix="", connection_id=connection.id)
            )
            await session.execute(update(Sender).values(rate_limit_mps=100))
            await session.commit()
        actor = system_actor(ws)
        async with platform.sessions() as session:
            for i in range(MESSAGES):
                await messaging.send_message(
                    session, actor, messaging.SendRequest(to=f"+1415723{i:04d}", body=f"n{i:04d}")
                )

        first = start_worker(db_url, tmp_path)
        try:
            await wait_until(
                lambda: _true(smsc.submit_count >= MESSAGES // 3), 60, "the first worker to send"
            )
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        sent_before_kill = smsc.submit_count
        assert 0 < sent_before_kill < MESSAGES
        # Receipts for these were due on the dead worker's bind; the local SMSC, unlike a
        # real one, does not keep them for the next bind, so they may stay `sent`.
        before_kill = {s.short_message.decode() for s in smsc.submits[:sent_before_kill]}

        second = start_worker(db_url, tmp_path)
        try:

            async def settled() -> bool:
                async with platform.sessions() as session:
                    waiting = (
                        await session.execute(
                            select(Message.body, Message.status).where(
                                Message.status.in_(["queued", "sending", "sent"])
                            )
                        )
                    ).all()
                return all(status == "sent" and body in before_kill for body, status in waiting)

            try:
                await wait_until(settled, 90, "every message to reach a final state")
            except AssertionError:
                async with platform.sessions() as session:
                    left = (
                        await session.execute(
                            select(Message.status, func.count()).group_by(Message.status)
                        )
                    ).all()
                raise AssertionError(f"not settled: {left}, worker exit {second.poll()}") from None
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

        texts = Counter(s.short_message.decode() for s in smsc.submits if s.message_id)
        async with platform.sessions() as session:
            rows = (await session.execute(select(Message.body, Message.status))).all()
    statuses = Counter(status for _, status in rows)
    assert max(texts.values()) == 1, "someone was texted twice"
    assert set(statuses) <= {"delivered", "unknown", "sent"}
    # Only the group in the carrier's hands at the kill (submitted together) can be unknown.
    assert statuses["unknown"] <= DEFAULT_WINDOW
    for body, status in rows:
        if status in ("delivered", "sent"):
            assert texts[body] == 1, (
                f"{body} is {status} but reached the carrier {texts[body]} times"
            )
        else:
            assert texts[body] <= 1
    # Nothing lost: every message the first worker had not submitted went out exactly once.
    assert sum(texts.values()) >= MESSAGES - statuses["unknown"]


async def _true(value: bool) -> bool:
    return value
