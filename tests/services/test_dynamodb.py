"""DynamoDB through boto3 against the server: tables, items, Query/Scan with expressions,
batch and transactional writes, TTL, Streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def create_table(ddb: Any, table: str, *, stream: bool = False) -> None:
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def test_items_query_and_scan(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    ddb = client("dynamodb")
    table = name("table")
    create_table(ddb, table)
    assert ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    for sk in range(5):
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": "a"}, "sk": {"N": str(sk)}, "v": {"N": str(sk * 10)}},
        )
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}, "sk": {"N": "0"}})
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "3"}})
    assert got["Item"]["v"] == {"N": "30"}
    query = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :p AND sk >= :s",
        FilterExpression="v < :v",
        ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"N": "1"}, ":v": {"N": "40"}},
    )
    assert [item["sk"]["N"] for item in query["Items"]] == ["1", "2", "3"]
    assert ddb.scan(TableName=table)["Count"] == 6
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "a"}, "sk": {"N": "0"}},
        UpdateExpression="SET v = v + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "0"}})["Item"]
    assert item["v"] == {"N": "1"}
    ddb.delete_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"N": "0"}})
    assert ddb.scan(TableName=table)["Count"] == 5


def test_conditional_write_is_refused_with_aws_code(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    ddb = client("dynamodb")
    table = name("table")
    create_table(ddb, table)
    item = {"pk": {"S": "k"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert e.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_batch_and_transactions(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    ddb = client("dynamodb")
    table = name("table")
    create_table(ddb, table)
    ddb.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": {"pk": {"S": "batch"}, "sk": {"N": str(i)}}}}
                for i in range(25)
            ]
        }
    )
    got = ddb.batch_get_item(
        RequestItems={
            table: {"Keys": [{"pk": {"S": "batch"}, "sk": {"N": str(i)}} for i in (1, 2)]}
        }
    )
    assert len(got["Responses"][table]) == 2
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"N": "1"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "batch"}, "sk": {"N": "0"}}}},
        ]
    )
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"N": "2"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "tx"}, "sk": {"N": "1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert e.value.response["Error"]["Code"] == "TransactionCanceledException"
    keys = {(i["pk"]["S"], i["sk"]["N"]) for i in ddb.scan(TableName=table)["Items"]}
    assert ("tx", "1") in keys and ("tx", "2") not in keys and ("batch", "0") not in keys
    assert len(keys) == 25


def test_ttl_setting_and_stream(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    ddb = client("dynamodb")
    table = name("table")
    create_table(ddb, table, stream=True)
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    ddb.put_item(TableName=table, Item={"pk": {"S": "s"}, "sk": {"N": "1"}})
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["NewImage"]["pk"] == {"S": "s"}


def test_every_attribute_type_reads_back_as_written(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    """Items leave the server as written through Scan, Query, GetItem and BatchGetItem: plain
    attributes take the adaptation's direct path, binary ones (B, BS, nested) moto's."""
    ddb = client("dynamodb")
    table = name("types")
    create_table(ddb, table)
    plain = {
        "s": {"S": "text"}, "n": {"N": "1.5"}, "t": {"BOOL": True}, "z": {"NULL": True},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]},
        "m": {"M": {"x": {"S": "y"}, "l": {"L": [{"N": "1"}, {"S": "q"}, {"BOOL": False}]}}},
    }  # fmt: skip
    binary = {"b": {"B": b"\x00\xffbin"}, "bs": {"BS": [b"\x01"]}, "mb": {"M": {"b": {"B": b"x"}}}}
    items = [
        {"pk": {"S": "p"}, "sk": {"N": "1"}, **plain},
        {"pk": {"S": "p"}, "sk": {"N": "2"}, **plain, **binary},
    ]
    for item in items:
        ddb.put_item(TableName=table, Item=item)

    def by_sk(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(found, key=lambda i: i["sk"]["N"])

    assert by_sk(ddb.scan(TableName=table)["Items"]) == items
    query = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
    )
    assert query["Items"] == items and query["Count"] == 2
    assert (
        ddb.get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"N": "2"}})["Item"] == items[1]
    )
    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in items]
    batch = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    assert by_sk(batch["Responses"][table]) == items
    page = ddb.scan(TableName=table, Limit=1)
    assert page["LastEvaluatedKey"] == keys[0]


def test_handler_methods_are_listed_once_per_class() -> None:
    """The adaptation of moto's ``call_action``, which listed the handler class's methods
    with ``inspect.getmembers`` on every call: the same names, listed once per class."""
    import moto.core.responses as moto_responses
    from moto.core.utils import method_names_from_class as listed_by_moto
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    from localaws.motobridge import adaptations

    adaptations.apply()
    for handler in (DynamoHandler, SQSResponse):
        names = moto_responses.method_names_from_class(handler)
        assert set(names) == set(listed_by_moto(handler))
        assert moto_responses.method_names_from_class(handler) is names
    assert "put_item" in moto_responses.method_names_from_class(DynamoHandler)
