#!/usr/bin/env python3
"""pyvroom (PyPI `pyvroom`) on the 56 Solomon instances, one thread, the same time per instance
as our planner, for the side-by-side table in the README:

    pip install pyvroom
    python3 dispatch/benches/pyvroom_solomon.py [SECONDS]     # prints one line per instance

vroom takes integer matrices, so travel times are Euclidean distances x 1000, rounded; the
distance reported here is recomputed exactly (double precision) from vroom's routes, as ours is.
"""
import json
import math
import pathlib
import sys
import time
from datetime import timedelta

import vroom

SCALE = 1000
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
root = pathlib.Path(__file__).resolve().parents[3] / "shared" / "bench" / "solomon"
bks = json.loads((root / "BKS.json").read_text())


def parse(path):
    rows, fleet, section = [], None, ""
    for line in path.read_text().splitlines()[1:]:
        t = line.strip()
        if not t:
            continue
        if t.upper().startswith("VEHICLE"):
            section = "v"
            continue
        if t.upper().startswith("CUSTOMER"):
            section = "c"
            continue
        try:
            nums = [float(x) for x in t.split()]
        except ValueError:
            continue
        if section == "v" and len(nums) == 2:
            fleet = (int(nums[0]), int(nums[1]))
        elif section == "c" and len(nums) == 7:
            rows.append(nums)
    return fleet, rows


gaps = {}
print("instance  distance  best known  gap %  vehicles  seconds  unassigned")
for path in sorted(root.glob("*.txt")):
    name = path.stem
    (count, capacity), rows = parse(path)
    n = len(rows)
    d = [[math.hypot(rows[i][1] - rows[j][1], rows[i][2] - rows[j][2]) for j in range(n)] for i in range(n)]
    # Service time is added to the travel time leaving a customer (vroom has job service times).
    matrix = [[round(d[i][j] * SCALE) for j in range(n)] for i in range(n)]
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=matrix)
    depot = rows[0]
    for k in range(count):
        problem.add_vehicle(vroom.Vehicle(
            id=k + 1, start=0, end=0, capacity=vroom.Amount([capacity]),
            time_window=vroom.TimeWindow(int(depot[4] * SCALE), int(depot[5] * SCALE))))
    for i in range(1, n):
        r = rows[i]
        problem.add_job(vroom.Job(
            id=i, location=i, delivery=vroom.Amount([int(r[3])]), default_service=int(r[6] * SCALE),
            time_windows=[vroom.TimeWindow(int(r[4] * SCALE), int(r[5] * SCALE))]))
    started = time.monotonic()
    solution = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=seconds))
    took = time.monotonic() - started
    routes = solution.routes
    unassigned = len(solution.unassigned) if hasattr(solution, "unassigned") else 0
    total, vehicles = 0.0, 0
    for vid, steps in routes.groupby("vehicle_id"):
        jobs = [int(j) for t, j in zip(steps["type"], steps["id"]) if t == "job"]
        if not jobs:
            continue
        vehicles += 1
        prev = 0
        for j in jobs:
            total += d[prev][j]
            prev = j
        total += d[prev][0]
    best = bks[f"{name}_distance"]["best_known_cost"]
    gap = (total / best - 1) * 100
    prefix = name.rstrip("0123456789")
    gaps.setdefault(prefix + name[len(prefix)], []).append(gap)
    print(f"{name:<8} {total:9.2f} {best:10.2f} {gap:6.2f} {vehicles:5d} {took:8.2f} {unassigned:5d}", flush=True)

print("\nclass  mean gap %")
allg = []
for c, g in sorted(gaps.items()):
    allg += g
    print(f"{c:<6} {sum(g) / len(g):8.2f}")
print(f"all    {sum(allg) / len(allg):8.2f}")
