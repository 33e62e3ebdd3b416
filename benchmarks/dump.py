"""Dump throughput: this package's dump against the seed article's loop, on the same stand-in data, in one run.

    .venv/bin/python benchmarks/dump.py --documents 5000 --dimension 384 --latency-ms 0 --page-size 50

Each side runs in its own child process (so peak RSS is its own), against one Astra stand-in
seeded the way astrapy inserts by default ($binary vectors). Prints a JSON report: docs/s, MB/s
of output, peak RSS, the ratio ours/baseline, and the share of the wire limit reached
(page size / round trip, for one stream). Measures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_vectorbackup.testing.astra import AstraStandIn
from airflow_provider_vectorbackup.testing.faults import FaultPlan
from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE, unit_vector
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary

BASELINE = r'''
import base64, datetime as dt, decimal, gzip, json, sys, time, uuid
from astrapy import DataAPIClient
from astrapy.api_options import APIOptions, SerdesOptions

def json_default(obj):  # the seed article's envelope default, verbatim in spirit
    if isinstance(obj, dt.datetime): return {"$backupType": "datetime", "value": obj.isoformat()}
    if isinstance(obj, dt.date): return {"$backupType": "date", "value": obj.isoformat()}
    if isinstance(obj, (bytes, bytearray)): return {"$backupType": "bytes_b64", "value": base64.b64encode(bytes(obj)).decode()}
    if isinstance(obj, decimal.Decimal): return {"$backupType": "decimal", "value": str(obj)}
    if isinstance(obj, uuid.UUID): return {"$backupType": "uuid", "value": str(obj)}
    if isinstance(obj, (set, frozenset)): return {"$backupType": "set", "value": sorted(obj, key=repr)}
    if hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes, dict)): return list(obj)
    raise TypeError(type(obj).__name__)

url, token, out = sys.argv[1:4]
options = APIOptions(serdes_options=SerdesOptions(custom_datatypes_in_reading=False, unroll_iterables_to_lists=True))
database = DataAPIClient(environment="other", api_options=options).get_database(url, token=token, keyspace="default_keyspace")
started = time.perf_counter(); written = 0
with gzip.open(out, "wt", encoding="utf-8") as handle:
    for doc in database.get_collection("bench").find({}, projection={"*": True}):
        handle.write(json.dumps(doc, ensure_ascii=False, default=json_default)); handle.write("\n"); written += 1
print(json.dumps({"documents": written, "seconds": time.perf_counter() - started}))
'''

OURS = r'''
import json, sys, time, os
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.stores.local import LocalSnapshotStore
url, token, out = sys.argv[1:4]
os.environ["AIRFLOW_CONN_BENCH"] = json.dumps({"conn_type": "astra_db", "host": url, "password": token,
                                               "extra": {"keyspace": "default_keyspace", "environment": "other"}})
started = time.perf_counter()
outcome = dump_snapshot(AstraDBHook("bench"), LocalSnapshotStore(out), "20260101T000000Z-bench")
print(json.dumps({"documents": outcome.manifest.collection("bench").document_count,
                  "seconds": time.perf_counter() - started}))
'''

PEAK_RSS = r'''
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1])
import atexit, sys
atexit.register(lambda: print("PEAK_KIB", _peak(), file=sys.stderr))
'''


def run_child(code: str, url: str, token: str, out: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PEAK_RSS + code, url, token, out], capture_output=True, text=True,
                            env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}, timeout=3600)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["peak_rss_mib"] = round(int(result.stderr.split("PEAK_KIB")[-1].split()[0]) / 1024, 1)
    return report


def output_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    import random

    rng = random.Random(7)
    with AstraStandIn(page_size=args.page_size, faults=FaultPlan(latency_ms=args.latency_ms)) as astra, \
            tempfile.TemporaryDirectory() as tmp:
        astra.create_collection(KEYSPACE, "bench", {"vector": {"dimension": args.dimension}})
        astra.seed(KEYSPACE, "bench", ({"_id": f"{i:08d}", "$vector": {"$binary": floats_to_binary(
            unit_vector(rng, args.dimension))}, "text": f"chunk {i} " * 20, "n": i} for i in range(args.documents)))
        sides = {}
        for name, code, out in (("baseline", BASELINE, f"{tmp}/baseline.jsonl.gz"), ("ours", OURS, f"{tmp}/store")):
            report = run_child(code, astra.url, astra.token, out)
            if report["documents"] != args.documents:
                raise RuntimeError(f"{name} dumped {report['documents']} of {args.documents} documents")
            report["docs_per_second"] = round(report["documents"] / report["seconds"], 1)
            report["output_mib"] = round(output_bytes(Path(out)) / 2**20, 2)
            report["output_mib_per_second"] = round(report["output_mib"] / report["seconds"], 2)
            sides[name] = report
    wire_limit = args.page_size / (args.latency_ms / 1000) if args.latency_ms else None
    result = {
        "settings": vars(args), "baseline": sides["baseline"], "ours": sides["ours"],
        "ours_over_baseline": round(sides["ours"]["docs_per_second"] / sides["baseline"]["docs_per_second"], 2),
        "wire_limit_docs_per_second": wire_limit,
        "ours_share_of_wire_limit": round(sides["ours"]["docs_per_second"] / wire_limit, 3) if wire_limit else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
