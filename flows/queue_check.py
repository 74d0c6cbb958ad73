"""Blocks that wait in the queue for a reason waiting cannot fix.

Slurm keeps a job PENDING, without an error, when the request breaks a partition, account or
QOS limit (a walltime over the partition's MaxTime, more nodes than it has, an unknown
account...). Parsl would wait for that block forever and the round would hang silently. These
reasons are read from `squeue` (the scheduler's own view, not Parsl's cached state) and turned
into an error that names the job, the reason and the profile field to change.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

# Slurm pending reasons (squeue %r) that only a change of the request can clear, with the hint.
HOPELESS: dict[str, str] = {
    "PartitionTimeLimit": "walltime is over the partition's MaxTime",
    "PartitionNodeLimit": "nodes_per_block is outside the partition's node limits",
    "PartitionConfig": "the request (cores, memory, nodes) does not fit the partition",
    "InvalidAccount": "account is not valid here",
    "InvalidQOS": "qos is not valid for this account or partition",
    "QOSMaxWallDurationPerJobLimit": "walltime is over the QOS limit",
    "QOSMaxNodePerJobLimit": "nodes_per_block is over the QOS limit",
    "QOSMaxCpuPerJobLimit": "cores requested are over the QOS limit",
    "AssocMaxWallDurationPerJobLimit": "walltime is over the account's limit",
    "AssocMaxNodesPerJobLimit": "nodes_per_block is over the account's limit",
    "AssocMaxCpuPerJobLimit": "cores requested are over the account's limit",
    "BadConstraints": "the constraints in scheduler_options match no node",
}


class BlockCannotStart(RuntimeError):
    """A block is pending for a reason that only a different profile can clear."""


def slurm_pending_reasons(job_ids: Sequence[str], timeout: float = 30) -> dict[str, str]:
    """job id -> Slurm's reason for every given job that is still PENDING."""
    if not job_ids:
        return {}
    out = subprocess.run(  # argument list; job ids come from sbatch, not from users
        ["squeue", "-h", "-t", "PENDING", "-j", ",".join(job_ids), "-o", "%i|%r"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    ).stdout
    reasons = {}
    for line in out.splitlines():
        job, _, reason = line.partition("|")
        if job.strip():
            reasons[job.strip()] = reason.strip()
    return reasons


def hopeless(reasons: dict[str, str]) -> str | None:
    """A message for the first job whose reason cannot clear by waiting, else None."""
    for job, reason in sorted(reasons.items()):
        if reason in HOPELESS:
            return (
                f"Slurm job {job} (a worker block) cannot start: Reason={reason}: "
                f"{HOPELESS[reason]}; change the profile and run the round again "
                "(finished calculations are kept)"
            )
    return None
