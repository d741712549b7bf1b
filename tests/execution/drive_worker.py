"""Drives one real worker process through several trials and prints, per trial, one JSON line:
the worker's pid, the trial's status and reason, the worker's resident memory after the trial,
and whether the coordinator decided to replace the worker. Run as a script (the worker must find
the fake plugin through ``PYTHONPATH``)::

    python tests/execution/drive_worker.py TASK_FILE ARCH[,ARCH...] [MAX_GROWTH_MB]
"""

from __future__ import annotations

import json
import sys

from harness._config import load_config
from harness._records import TrialPlan
from harness._run import workers


def main() -> None:
    task, archs = sys.argv[1], sys.argv[2].split(",")
    if len(sys.argv) > 3:
        workers.MAX_GROWTH_MB = float(sys.argv[3])
    setup = workers.WorkerSetup(load_config(task), "cpu", 1)
    worker = workers.WorkerProcess(setup).start()
    for number, arch in enumerate(archs):
        plan = TrialPlan(number, 0, arch, "adamw", "constant", 64,
                         architecture_params={"hidden": 32}, optimizer_params={"lr": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                           "weight_decay": 0.0},
                         task_params={"image_size": 8, "augment": "none", "blur_sigma": 0.0,
                                      "normalize": "standard"})
        worker.assign(workers.TrialJob(plan, 1), None, number)
        pid = worker.process.pid
        while True:
            kind, payload = worker.receive()
            if kind == "ready":
                worker.mark_ready()
            elif kind == "started":
                worker.mark_started()
            elif kind == "epoch":
                worker.conn.send(False)
            elif kind == "speed":
                worker.conn.send(None)
            elif kind == "result":
                result, resident = payload
                replace = worker.finished(resident, failed=result.status == "failed")
                print(json.dumps({"pid": pid, "status": result.status,
                                  "reason": result.fail_reason, "resident_mb": resident,
                                  "replace": replace}), flush=True)
                break
            else:  # "died" or "error": this trial fails, a fresh worker takes the next
                print(json.dumps({"pid": pid, "status": "failed", "reason": payload,
                                  "resident_mb": None, "replace": True}), flush=True)
                worker.stop()
                replace = True
                break
        if replace:
            worker.stop(kill=False)
            worker = workers.WorkerProcess(setup).start()
    worker.stop(kill=False)


if __name__ == "__main__":
    main()
