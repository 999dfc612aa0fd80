"""Athena's Hive DDL and INSERT INTO through boto3 against the local server: CREATE EXTERNAL
TABLE makes the catalog table, MSCK REPAIR TABLE and ALTER TABLE ADD PARTITION its
partitions, INSERT INTO writes objects under the table's location and the catalog follows;
every answer is compared with pandas' on the same files."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_glue_athena import RATINGS, query, rows


@pytest.fixture
def lake(client: Callable[..., Any], name: Callable[[str], str]) -> dict[str, Any]:
    """A bucket, a database and a function running one statement that must succeed."""
    s3, athena = client("s3"), client("athena")
    bucket, database = name("lake"), name("db").replace("-", "_")
    s3.create_bucket(Bucket=bucket)

    def run(sql: str) -> list[list[str | None]]:
        execution = query(athena, sql, database, f"s3://{bucket}/results/")
        assert execution["Status"]["State"] == "SUCCEEDED", (sql, execution["Status"])
        return rows(athena, execution["QueryExecutionId"])

    def fail(sql: str) -> str:
        execution = query(athena, sql, database, f"s3://{bucket}/results/")
        assert execution["Status"]["State"] == "FAILED", sql
        return str(execution["Status"]["StateChangeReason"])

    run(f"CREATE DATABASE {database}")
    return {"bucket": bucket, "db": database, "run": run, "fail": fail}


def _per_item(frame: pd.DataFrame) -> list[Any]:
    """pandas' answer to PER_ITEM, as the rows of Athena's answer read back by _read."""
    grouped = frame.groupby("item").agg(n=("rating", "size"), total=("rating", "sum"))
    return [["item", "n", "total"]] + [
        [item, int(r["n"]), pytest.approx(float(r["total"]))] for item, r in grouped.iterrows()
    ]


def _read(found: list[list[str | None]]) -> list[Any]:
    return found[:1] + [[r[0], int(r[1] or 0), float(r[2] or 0)] for r in found[1:]]


PER_ITEM = "SELECT item, count(*) AS n, sum(rating) AS total FROM {t} GROUP BY item ORDER BY item"


def test_external_csv_table_with_partitions_repaired_added_and_dropped(
    client: Callable[..., Any], lake: dict[str, Any]
) -> None:
    s3, glue = client("s3"), client("glue")
    bucket, db, run = lake["bucket"], lake["db"], lake["run"]
    days = {"2024-01-01": RATINGS.iloc[:2], "2024-01-02": RATINGS.iloc[2:4]}
    for day, frame in days.items():
        s3.put_object(
            Bucket=bucket, Key=f"ratings/dt={day}/a.csv", Body=frame.to_csv(index=False).encode()
        )
    s3.put_object(
        Bucket=bucket, Key="late/2024-01-03/a.csv", Body=RATINGS.iloc[4:].to_csv(index=False)
    )
    run(
        "CREATE EXTERNAL TABLE IF NOT EXISTS ratings (user_id bigint, item string, "
        "rating double, liked boolean) PARTITIONED BY (dt string) "
        "ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE "
        f"LOCATION 's3://{bucket}/ratings/' TBLPROPERTIES ('skip.header.line.count'='1')"
    )
    table = glue.get_table(DatabaseName=db, Name="ratings")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("user_id", "bigint"),
        ("item", "string"),
        ("rating", "double"),
        ("liked", "boolean"),
    ]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["Parameters"]["skip.header.line.count"] == "1"
    assert table["StorageDescriptor"]["SerdeInfo"]["Parameters"]["field.delim"] == ","
    assert run("SELECT count(*) AS n FROM ratings") == [["n"], ["0"]]  # no partitions yet

    run("MSCK REPAIR TABLE ratings")
    partitions = glue.get_partitions(DatabaseName=db, TableName="ratings")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["2024-01-01"], ["2024-01-02"]]
    assert _read(run(PER_ITEM.format(t="ratings"))) == _per_item(RATINGS.iloc[:4])

    run(
        f"ALTER TABLE ratings ADD IF NOT EXISTS PARTITION (dt='2024-01-01') "
        f"PARTITION (dt='2024-01-03') LOCATION 's3://{bucket}/late/2024-01-03/'"
    )
    assert _read(run(PER_ITEM.format(t="ratings"))) == _per_item(RATINGS)
    assert run("SHOW PARTITIONS ratings") == [
        ["dt=2024-01-01"],
        ["dt=2024-01-02"],
        ["dt=2024-01-03"],
    ]
    assert "Partition already exists" in lake["fail"](
        "ALTER TABLE ratings ADD PARTITION (dt='2024-01-03')"
    )
    described = [r[0] for r in run("DESCRIBE ratings")]
    assert [line.split("\t")[0].strip() for line in described[:5]] == [
        "user_id",
        "item",
        "rating",
        "liked",
        "dt",
    ]
    assert "# Partition Information" in described
    assert run(f"SHOW COLUMNS IN {db}.ratings") == [
        ["user_id"],
        ["item"],
        ["rating"],
        ["liked"],
        ["dt"],
    ]

    run("ALTER TABLE ratings DROP PARTITION (dt='2024-01-02')")
    frame = pd.concat([RATINGS.iloc[:2], RATINGS.iloc[4:]])
    assert _read(run(PER_ITEM.format(t="ratings"))) == _per_item(frame)

    run("DROP TABLE ratings")
    assert "TABLE_NOT_FOUND" in lake["fail"]("SELECT * FROM ratings")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="ratings/")["KeyCount"] == 2  # data kept


def test_json_and_parquet_tables_and_insert_into(
    client: Callable[..., Any], lake: dict[str, Any]
) -> None:
    s3, glue = client("s3"), client("glue")
    bucket, db, run = lake["bucket"], lake["db"], lake["run"]
    s3.put_object(
        Bucket=bucket,
        Key="json/a.json",
        Body=RATINGS.to_json(orient="records", lines=True).encode(),
    )
    run(
        "CREATE EXTERNAL TABLE src (user_id bigint, item string, rating double, liked boolean) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/json/'"
    )
    assert _read(run(PER_ITEM.format(t="src"))) == _per_item(RATINGS)

    buf = io.BytesIO()
    item_a = RATINGS[RATINGS["item"] == "a"]
    pq.write_table(pa.Table.from_pandas(item_a.drop(columns="item"), preserve_index=False), buf)
    s3.put_object(Bucket=bucket, Key="pq/item=a/0.parquet", Body=buf.getvalue())
    run(
        "CREATE EXTERNAL TABLE facts (user_id bigint, rating double, liked boolean) "
        f"PARTITIONED BY (item string) STORED AS PARQUET LOCATION 's3://{bucket}/pq/'"
    )
    run("MSCK REPAIR TABLE facts")
    # INSERT INTO: the partition key last, as Athena takes it; new partitions registered.
    run("INSERT INTO facts SELECT user_id, rating, liked, item FROM src WHERE item <> 'a'")
    partitions = glue.get_partitions(DatabaseName=db, TableName="facts")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["a"], ["b"], ["c"]]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="pq/")["Contents"]]
    assert sorted(k.split("/")[1] for k in keys) == ["item=a", "item=b", "item=c"]
    assert _read(run(PER_ITEM.format(t="facts"))) == _per_item(RATINGS)

    # INSERT INTO a headed CSV table by VALUES, naming the columns (the others are NULL).
    run(
        "CREATE EXTERNAL TABLE notes (id bigint, note string, score double) "
        "ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' "
        f"LOCATION 's3://{bucket}/notes/' TBLPROPERTIES ('skip.header.line.count'='1')"
    )
    execution = query(
        client("athena"),
        "INSERT INTO notes (note, id) VALUES ('x', 1), ('y', 2)",
        db,
        f"s3://{bucket}/results/",
    )
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    result = client("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert result["UpdateCount"] == 2
    assert run("SELECT id, note, score FROM notes ORDER BY id") == [
        ["id", "note", "score"],
        ["1", "x", None],
        ["2", "y", None],
    ]
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="notes/")["Contents"]]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert pd.read_csv(io.StringIO(body), sep="|")["note"].tolist() == ["x", "y"]


def test_ddl_refusals_name_the_problem(lake: dict[str, Any]) -> None:
    bucket, fail = lake["bucket"], lake["fail"]
    assert "STORED AS ORC" in fail(
        f"CREATE EXTERNAL TABLE o (a int) STORED AS ORC LOCATION 's3://{bucket}/o/'"
    )
    assert "LOCATION" in fail("CREATE EXTERNAL TABLE o (a int) STORED AS PARQUET")
    lake["run"](f"CREATE EXTERNAL TABLE t (a int) STORED AS PARQUET LOCATION 's3://{bucket}/t/'")
    assert "already exists" in fail(
        f"CREATE EXTERNAL TABLE t (a int) STORED AS PARQUET LOCATION 's3://{bucket}/t/'"
    )
    assert "mismatched column sizes" in fail("INSERT INTO t VALUES (1, 2)")
    assert "give a value for each" in fail("ALTER TABLE t ADD PARTITION (b='1')")


def test_insert_that_fails_midway_leaves_no_object(
    client: Callable[..., Any], lake: dict[str, Any]
) -> None:
    """The second partition's location is in a bucket that does not exist: the first
    partition's object, already written, is taken back."""
    s3, bucket, run = client("s3"), lake["bucket"], lake["run"]
    run(
        "CREATE EXTERNAL TABLE events (v bigint) PARTITIONED BY (p string) "
        f"ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://{bucket}/events/'"
    )
    run("ALTER TABLE events ADD PARTITION (p='z') LOCATION 's3://no-such-bucket-here/z/'")
    reason = lake["fail"]("INSERT INTO events VALUES (1, 'a'), (2, 'z')")
    assert "s3://no-such-bucket-here/z/" in reason and "create the bucket" in reason
    assert s3.list_objects_v2(Bucket=bucket, Prefix="events/")["KeyCount"] == 0
    assert run("SHOW PARTITIONS events") == [["p=z"]]
    run("INSERT INTO events VALUES (1, 'a'), (3, 'a')")
    assert run("SELECT sum(v) AS s FROM events") == [["s"], ["4"]]
