"""The bridge's journal: what is journaled, what observers see, the sync setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localaws import config
from localaws.errors import ServiceError, UserError
from localaws.motobridge.bridge import BridgeBusy, MotoBridge, Mutation
from localaws.motobridge.journal import Journal
from localaws.runtime import Runtime


def test_only_accepted_mutations_are_journaled_and_observed(tmp_path: Path) -> None:
    seen: list[Mutation] = []
    with Runtime(tmp_path) as rt:
        rt.motobridge.observe(seen.append)
        sqs = rt.backend("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="one")
        sqs.list_queues()  # a read
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]
        assert "Messages" not in sqs.receive_message(QueueUrl=url)  # changed nothing
        with pytest.raises(ServiceError, match="QueueDoesNotExist"):
            sqs.send_message(QueueUrl=url + "-missing", MessageBody="lost")
    assert [m.operation for m in seen] == ["CreateQueue", "SendMessage", "ReceiveMessage"]
    journal = Journal(tmp_path / "services" / "journal.db")
    assert len(journal) == 3
    journal.close()


def test_one_runtime_owns_motos_backends_per_process(tmp_path: Path) -> None:
    with Runtime(tmp_path / "a") as first:
        first.backend("sts").get_caller_identity()
        with Runtime(tmp_path / "b") as second, pytest.raises(BridgeBusy, match="close that"):
            second.backend("sts").get_caller_identity()


def test_bad_journal_sync_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_JOURNAL_SYNC, "sometimes")
    with pytest.raises(
        UserError, match=r"LOCALAWS_JOURNAL_SYNC: 'sometimes' .* use full or normal"
    ):
        config.journal_sync()


def _create_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_replay_restores_what_was_acknowledged(tmp_path: Path) -> None:
    def items(rt: Runtime) -> Any:
        return rt.backend("dynamodb").scan(TableName="t")["Items"]

    with Runtime(tmp_path) as rt:
        ddb = rt.backend("dynamodb")
        _create_table(ddb, "t")
        ddb.put_item(TableName="t", Item={"id": {"S": "a"}})
        created = ddb.describe_table(TableName="t")["Table"]["CreationDateTime"]
    # A clean close left a snapshot of both calls: nothing to replay.
    assert (tmp_path / "services" / "snapshot.pickle").is_file()
    bridge = MotoBridge(tmp_path / "services", region="us-east-1", account_id="123456789012")
    bridge.open()
    assert bridge.replayed == 0
    bridge.close()
    # Without it, the journal alone rebuilds the same state.
    (tmp_path / "services" / "snapshot.pickle").unlink()
    bridge = MotoBridge(tmp_path / "services", region="us-east-1", account_id="123456789012")
    bridge.open()
    assert bridge.replayed == 2
    bridge.close()
    with Runtime(tmp_path) as rt:
        assert items(rt) == [{"id": {"S": "a"}}]
        assert (
            rt.backend("dynamodb").describe_table(TableName="t")["Table"]["CreationDateTime"]
            == created
        )


def test_bad_snapshot_interval_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_SNAPSHOT_EVERY, "0")
    with pytest.raises(UserError, match=r"LOCALAWS_SNAPSHOT_EVERY: '0' is not a positive"):
        config.snapshot_every()


def test_full_sync_shares_one_fsync_among_the_entries_committed_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: an fsync of the WAL covers every entry committed when it starts; a
    caller whose entry it covered does not fsync again.  ``normal`` never fsyncs."""
    import os

    from localaws.motobridge.journal import Call

    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counted(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted)
    call = Call("dynamodb", "POST", "https://dynamodb.us-east-1.amazonaws.com/", {}, b"{}", 1, 0.0)
    full = Journal(tmp_path / "full.db", sync="full")
    seqs = [full.append(call) for _ in range(3)]
    assert seqs == [1, 2, 3] and fsyncs == []  # committed, not yet waited for
    full.sync_to(2)
    assert len(fsyncs) == 1
    full.sync_to(3)  # committed before that fsync began: on the disk already
    full.sync_to(1)
    assert len(fsyncs) == 1
    full.sync_to(full.append(call))
    assert len(fsyncs) == 2
    full.close()
    normal = Journal(tmp_path / "normal.db", sync="normal")
    normal.sync_to(normal.append(call))
    normal.close()
    assert len(fsyncs) == 2


def test_full_sync_acknowledges_after_the_fsync_without_holding_the_bridge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LOCALAWS_JOURNAL_SYNC=full a write returns after its entry's fsync, and the
    fsync runs outside the bridge's lock (other calls go on meanwhile and share the next)."""
    import os
    import threading

    monkeypatch.setenv(config.ENV_JOURNAL_SYNC, "full")
    real_fsync = os.fsync
    lock_free_during_fsync: list[bool] = []
    with Runtime(tmp_path) as rt:
        ddb = rt.backend("dynamodb")
        _create_table(ddb, "t")
        bridge = rt.motobridge

        wal = tmp_path / "services" / "journal.db-wal"

        def fsync(fd: int) -> None:
            if os.fstat(fd).st_ino != os.stat(wal).st_ino:  # another file's
                real_fsync(fd)
                return

            def probe() -> None:
                free = bridge._lock.acquire(blocking=False)
                if free:
                    bridge._lock.release()
                lock_free_during_fsync.append(free)

            prober = threading.Thread(target=probe)
            prober.start()
            prober.join()
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        ddb.put_item(TableName="t", Item={"id": {"S": "a"}})
        assert lock_free_during_fsync == [True]
        monkeypatch.setattr(os, "fsync", real_fsync)
