"""RecordIO-protobuf as the SageMaker SDK writes it, read without protobuf; what we write, read
back by the SDK's own protobuf reader."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from localaws.sagemaker import recordio


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"], ids=["f32", "f64", "int32"])
def test_dense_records_of_every_tensor_type(dtype: str) -> None:
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(7, 5)) * 10).astype(dtype)
    if dtype == "int64":
        x = x.astype(int)  # the SDK writes Python ints as Int32Tensor, negatives included
    labels = np.arange(7).astype("float32")
    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, x, labels)
    matrix, read_labels = recordio.to_csr(recordio.read_records(buffer.getvalue()), None)
    assert np.allclose(matrix.toarray(), x, rtol=1e-6)  # type: ignore[attr-defined]
    assert read_labels is not None and (read_labels == labels).all()


def test_sparse_records_keep_keys_and_width() -> None:
    from sagemaker.amazon.common import write_spmatrix_to_sparse_tensor

    x = sp.random(30, 400, density=0.01, format="csr", random_state=2, dtype=np.float32)
    buffer = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buffer, x)
    matrix, labels = recordio.to_csr(recordio.read_records(buffer.getvalue()), 400)
    assert labels is None
    assert matrix.shape == (30, 400) and abs(matrix - x).max() == 0  # type: ignore[attr-defined,operator]
    with pytest.raises(recordio.RecordIOError, match="past feature_dim 100"):
        recordio.to_csr(recordio.read_records(buffer.getvalue()), 100, what="the request")


def test_written_records_read_back_with_the_sdk() -> None:
    from sagemaker.amazon.common import read_records

    body = b"".join(
        recordio.frame(
            recordio.encode_record(
                features={
                    "values": recordio.Tensor(np.array([1.5, 2.0]), np.array([3, 300]), [500])
                },
                label={"score": recordio.Tensor(np.array([score]))},
            )
        )
        for score in (0.25, 0.75)
    )
    records = read_records(io.BytesIO(body))
    assert [r.label["score"].float32_tensor.values[0] for r in records] == [0.25, 0.75]
    tensor = records[0].features["values"].float32_tensor
    assert list(tensor.keys) == [3, 300] and list(tensor.shape) == [500]
    assert list(tensor.values) == [1.5, 2.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not recordio at all", "not a RecordIO record"),
        (recordio.frame(b"\x0a\x05abc")[:-4], "runs past the end"),
        (b"\x0a\x23\xd7\xce", "truncated RecordIO header"),
    ],
    ids=["bad-magic", "short-payload", "short-header"],
)
def test_malformed_bodies_are_refused_with_the_position(body: bytes, message: str) -> None:
    with pytest.raises(recordio.RecordIOError, match=message):
        recordio.read_records(body)
