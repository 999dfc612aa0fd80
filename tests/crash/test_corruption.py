"""A damaged runtime.db stops every command with one line naming it; the backup restores it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from localaws.runtime import Runtime
from workflows.cli import main
from workflows.errors import ExitCode

ROLE = "arn:aws:iam::123456789012:role/crash-test"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def empty(path: Path) -> None:
    path.write_bytes(b"")


def half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(os.urandom(100) + data[100:])


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory with a state machine, closed (its backup taken)."""
    state = tmp_path / "state"
    with Runtime(state) as rt:
        rt.stepfunctions.create_state_machine(name="kept", definition=PASS, roleArn=ROLE)
        for i in range(100):  # enough pages that half a file misses some
            rt.stepfunctions.create_state_machine(name=f"m{i}", definition=PASS, roleArn=ROLE)
    assert (state / "backup" / "runtime.db").is_file()
    return state


@pytest.mark.parametrize("damage", [empty, half, garbage_header], ids=lambda f: f.__name__)
@pytest.mark.parametrize("command", ["status", "serve", "run"])
def test_damaged_database_is_named_and_restored(
    state: Path,
    damage: Callable[[Path], None],
    command: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = state / "runtime.db"
    for leftover in ("-wal", "-shm"):
        Path(f"{db}{leftover}").unlink(missing_ok=True)
    damage(db)
    damaged = db.read_bytes()
    code = main([command, "--state-dir", str(state)])
    err = capsys.readouterr().err
    assert code == ExitCode.STATE_CORRUPT
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(db) in lines[0] and "python -m workflows restore" in lines[0]
    assert "serving on" not in err
    assert db.read_bytes() == damaged  # never silently reset

    assert main(["restore", "--state-dir", str(state)]) == ExitCode.OK
    assert "restored" in capsys.readouterr().out
    assert list(state.glob("runtime.db.damaged-*"))  # the damaged file is kept aside
    with Runtime(state) as rt:
        names = {
            m["name"]
            for m in rt.stepfunctions.list_state_machines(maxResults=1000)["stateMachines"]
        }
    assert "kept" in names and len(names) == 101


def test_backup_keeps_the_last_sound_copy(state: Path) -> None:
    from localaws import backup

    copy = state / "backup" / "runtime.db"
    before = copy.read_bytes()
    garbage_header(state / "runtime.db")
    assert not backup.backup_file(state / "runtime.db", copy)
    assert copy.read_bytes() == before


def test_restore_without_a_backup_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["restore", "--state-dir", str(tmp_path)]) == ExitCode.PLATFORM
    assert "no backup to restore" in capsys.readouterr().err


def bad_entry(path: Path) -> None:
    """A sound SQLite file whose last journal entry does not decode (its headers)."""
    import sqlite3

    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE calls SET headers = '{\"cut' WHERE seq = (SELECT max(seq) FROM calls)")
    con.close()


@pytest.fixture
def services_state(tmp_path: Path) -> Path:
    """A state directory whose services journal holds queues and messages, closed (backed up)."""
    state = tmp_path / "state"
    with Runtime(state) as rt:
        sqs = rt.backend("sqs")
        url = sqs.create_queue(QueueName="kept")["QueueUrl"]
        for i in range(60):  # enough pages that half a file misses some
            sqs.send_message(QueueUrl=url, MessageBody=f"{i:04d}" * 250)
    assert (state / "backup" / "services-journal.db").is_file()
    return state


@pytest.mark.parametrize(
    "damage", [empty, half, garbage_header, bad_entry], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("command", ["status", "serve"])
def test_damaged_services_journal_is_named_and_restored(
    services_state: Path,
    damage: Callable[[Path], None],
    command: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal = services_state / "services" / "journal.db"
    for leftover in ("-wal", "-shm"):
        Path(f"{journal}{leftover}").unlink(missing_ok=True)
    damage(journal)
    damaged = journal.read_bytes()
    code = main([command, "--state-dir", str(services_state)])
    err = capsys.readouterr().err
    assert code == ExitCode.STATE_CORRUPT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(journal) in lines[0] and "python -m workflows restore" in lines[0]
    assert "serving on" not in err
    assert journal.read_bytes() == damaged  # never silently reset

    assert main(["restore", "--state-dir", str(services_state)]) == ExitCode.OK
    capsys.readouterr()
    with Runtime(services_state) as rt:
        sqs = rt.backend("sqs")
        url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "60"
