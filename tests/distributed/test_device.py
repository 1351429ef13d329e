"""The CUDA path's choices, checked without a GPU: torch.cuda and torch.distributed are stood in for."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist

from sahit.training import distributed
from sahit.training.distributed import DistContext
from sahit.training.loop import default_num_workers, select_device


@pytest.fixture
def four_gpus(monkeypatch):
    """A machine with 4 CUDA devices, as far as device selection can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


@pytest.fixture
def fake_group(monkeypatch):
    """Records, in order, what a process does to its CUDA device and process group."""
    calls: list[tuple] = []
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", torch.device(device))))
    monkeypatch.setattr(dist, "is_initialized", lambda: any(c[0] == "init" for c in calls))
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: calls.append(("init", backend, kw)))
    monkeypatch.setattr(dist, "get_rank", lambda: 5)
    monkeypatch.setattr(dist, "get_world_size", lambda: 8)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    return calls


@pytest.mark.parametrize("name, local_rank, expected", [
    ("auto", 0, "cuda:0"), ("auto", 3, "cuda:3"), ("auto", 5, "cuda:1"),  # more processes than GPUs: wrap around
    ("cuda", 2, "cuda:2"),  # plain `cuda` is this process's GPU too, not every process's cuda:0
    ("cuda:1", 3, "cuda:1"),  # an explicit index is kept
    ("cpu", 3, "cpu"),
])
def test_device_per_local_rank(four_gpus, name, local_rank, expected):
    assert select_device(name, local_rank) == torch.device(expected)


def test_nccl_group_is_bound_to_this_process_gpu_before_it_exists(four_gpus, fake_group):
    ctx = DistContext.from_env(select_device("auto", distributed.local_rank()))
    assert fake_group == [("set_device", torch.device("cuda", 1)),
                          ("init", "nccl", {"device_id": torch.device("cuda", 1)})]
    assert (ctx.rank, ctx.world, ctx.local_rank) == (5, 8, 1)


def test_gloo_group_on_cpu_leaves_cuda_alone(fake_group):
    ctx = DistContext.from_env(select_device("cpu", distributed.local_rank()))
    assert fake_group == [("init", "gloo", {})]
    assert ctx.enabled and not ctx.is_main


def test_one_process_joins_no_group(fake_group, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    ctx = DistContext.from_env(torch.device("cuda", 0))
    assert fake_group == [] and not ctx.enabled


def test_data_workers_share_the_machine_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert default_num_workers(torch.device("cpu")) == 0
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert default_num_workers(torch.device("cuda", 0)) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert default_num_workers(torch.device("cuda", 0)) == 3  # 16 cores over 4 processes, one left to training
