"""Job processes share the machine's CPUs: each gets the CPUs divided by the jobs that run
at once (or that its tuning job runs at a time), never less than one."""

from __future__ import annotations

import threading

from localaws.sagemaker.training import CpuShare, environment_threads, thread_environment


def test_a_lone_job_gets_every_cpu_and_jobs_side_by_side_divide_them() -> None:
    share = CpuShare(lambda: 8)
    with share.claim("a") as first:
        assert first == 8
        with share.claim("b") as second, share.claim("c") as third:
            assert (second, third) == (4, 2)
    with share.claim("d") as again:
        assert again == 8  # the others ended: their share is back


def test_a_tuning_jobs_training_gets_its_share_of_the_parallel_trainings_from_the_start() -> None:
    share = CpuShare(lambda: 8)
    share.expect("tune-001", 2)
    share.expect("tune-002", 2)
    with share.claim("tune-001") as first:
        assert first == 4  # not 8: its sibling is about to start
        with share.claim("tune-002") as second:
            assert second == 4
    with share.claim("tune-001") as rerun:
        assert rerun == 8  # an expectation is used once


def test_never_less_than_one_thread_and_forget_drops_an_unused_expectation() -> None:
    share = CpuShare(lambda: 2)
    share.expect("x", 10)
    with share.claim("x") as threads:
        assert threads == 1
    share.expect("y", 4)
    share.forget("y")
    with share.claim("y") as threads:
        assert threads == 2


def test_claims_from_many_threads_release_every_share() -> None:
    share = CpuShare(lambda: 4)
    seen: list[int] = []
    barrier = threading.Barrier(4)

    def job(i: int) -> None:
        with share.claim(f"j{i}") as threads:
            barrier.wait(30)
            seen.append(threads)

    workers = [threading.Thread(target=job, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sorted(seen) == [1, 1, 2, 4]  # 4 // 1, 4 // 2, 4 // 3, 4 // 4
    with share.claim("after") as threads:
        assert threads == 4


def test_the_jobs_own_omp_num_threads_wins() -> None:
    assert thread_environment(2, None) == {"OMP_NUM_THREADS": "2"}
    assert thread_environment(2, {"OMP_NUM_THREADS": "6"}) == {}
    assert environment_threads({"OMP_NUM_THREADS": "6"}, 2) == 6
    assert environment_threads({"OMP_NUM_THREADS": "many"}, 2) == 2
    assert environment_threads({}, 3) == 3
