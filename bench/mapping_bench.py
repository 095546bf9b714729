"""Bulk ingest of agency records through the API, beside the raw database limit, in one run.

    python bench/mapping_bench.py [--rows 50000] [--messages 10000] [--batch 2000]
                                  [--hl7-batch 500] [--concurrency 4] [--hl7-concurrency 6]
                                  [--workers 2]

Starts its own embedded SecantusDB and a `cradle serve` on 127.0.0.1 (auth on, profiles
enforced: what production runs), registers a Connexions and a health agency Organization with
an operator token, mints agency tokens (what `cradle token --agency ORG` prints), then measures,
end to end (mapped, validated, stored, audited):
- (a) an N-row Connexions CCIS CSV extract posted to `POST /agencies/connexions/records` in
  files of `--batch` rows, `--concurrency` posts at a time;
- (b) M HL7 v2 ADT^A28 messages in HL7 batch files (FHS/BHS envelopes, the standard's bulk
  form) of `--hl7-batch` messages, `--concurrency` posts at a time;
- (c) M more ADT^A28 messages posted one per request, as a live interface feeds them,
  `--hl7-concurrency` at a time ((b) and (c) are skipped, with a note, when
  `mappings/health/map.json` is absent);
files are posted one connection each (keep-alive connections can put all the load on one
worker), the feed (c) on kept-alive connections;
each in records/s with the uvicorn workers' peak RSS (VmHWM, reset before each part), and
beside it the raw database limit in the same run: pymongo `insert_many` (in chunks of `--batch`)
of as many documents as records, each a copy of the Patient document Cradle stored, into the
same database; of every document Cradle wrote per record (resources, history, audit), as
filler of the same size into an unindexed collection; and of copies of those very documents
(search keys included; at most 10,000 records' worth) into collections with Cradle's indexes.
The CPU time the workers and the database process spent during each part is reported per
record: on a 2-core machine the two share the cores, so their sum bounds the rate.
Ends by checking that the stored Patients number the records posted (operator `_summary=count`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import auth_bench  # noqa: E402
from bench.auth_bench import Server, agency_token  # noqa: E402
from server.config import Settings  # noqa: E402
from server.interactions.admin import signing_key  # noqa: E402
from server.security.scopes import Scopes  # noqa: E402
from server.security.tokens import TokenService  # noqa: E402
from server.store.embedded import EmbeddedDatabase  # noqa: E402

AGENCY_TYPE = "https://cradle.example/fhir/CodeSystem/agency-type"
AGENCY_PROFILE = "https://cradle.example/fhir/StructureDefinition/Agency"
HEALTH_MAP = ROOT / "mappings" / "health" / "map.json"
DATABASE = "bench_mapping"
SAME_DOCUMENTS_RECORDS = 10_000
CSV_HEADER = ("YoungPersonsID,LACode,ACADYR,MonthNo,UPN,ULN,NHSNumber,Surname,Forename,DOB,"
              "Gender,Ethnicity,Postcode,SENDStatus,LookedAfter,CareLeaver,YoungCarer,"
              "TeenageParent,YouthOffender,ActivityCode,ActivityStartDate,DateAscertained,"
              "DateVerified,ReviewDate,LapseDate,EstablishmentLAESTAB,ProviderUKPRN,Notes")
SURNAMES = ("Whitfield", "Adeyemi", "Hussain", "Nowak", "Brennan", "Okafor", "Turner",
            "Kowalczyk", "Patel", "Smith", "Jones", "Williams", "Taylor", "Davies", "Evans")
FORENAMES = {"M": ("Jayden", "Reuben", "Kacper", "Tyler", "Oliver", "Noah", "Leo"),
             "F": ("Zara", "Amelia", "Maisie", "Lily-Mae", "Olivia", "Isla", "Ava")}
ETHNICITIES = ("WBRI", "MWBC", "BAFR", "APKN", "WOTH", "WIRI")
EXTRACT_END = date(2025, 3, 31)  # ACADYR 2024/25, MonthNo 3


# --- data -----------------------------------------------------------------------------------

def nhs_numbers(rng: random.Random, count: int) -> list[str]:
    """`count` distinct NHS numbers passing Modulus 11 (check value 10 is never issued)."""
    found: set[str] = set()
    while len(found) < count:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 10:
            continue
        found.add("".join(map(str, digits)) + str(0 if check == 11 else check))
    return list(found)


def uk(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def csv_row(rng: random.Random, number: int, nhs: str) -> str:
    """One valid CCIS row: a young person 13-19 at the end of March 2025."""
    gender = rng.choice("MF")
    dob = random_day(rng, date(2005, 6, 1), date(2011, 12, 31))
    ascertained = random_day(rng, date(2024, 9, 2), date(2025, 3, 14))
    if dob >= date(2009, 9, 1):  # still of compulsory school age: at school
        activity, start, estab, ukprn = "110", "02/09/2024", "2014002", ""
        lapse = date(2025, 10, 31)
    else:
        activity = rng.choice(("310", "330", "619"))
        start, estab = uk(ascertained - timedelta(days=rng.randint(0, 60))), ""
        ukprn = "10099001" if activity == "310" else ""
        lapse = ascertained + timedelta(days=92) if activity == "619" else date(2025, 10, 31)
    note = rng.choice(("", "", "\"Weekly contact, adviser aware\"", "Phone contact"))
    return ",".join((
        f"201{number:010d}", "201", "2024/25", "3", "", "", nhs, rng.choice(SURNAMES),
        rng.choice(FORENAMES[gender]), uk(dob), gender, rng.choice(ETHNICITIES),
        f"NS{rng.randint(1, 9)} {rng.randint(1, 9)}AB", rng.choice("NNNNES"), "N", "N", "N", "N",
        rng.choice("NNNNY"), activity, start, uk(ascertained), uk(ascertained),
        uk(ascertained + timedelta(days=60)), uk(lapse), estab, ukprn, note))


def csv_files(rows: list[str], batch: int) -> list[bytes]:
    return [("\r\n".join((CSV_HEADER, *rows[i:i + batch])) + "\r\n").encode()
            for i in range(0, len(rows), batch)]


def adt_message(rng: random.Random, number: int, nhs: str) -> bytes:
    """One ITK-style ADT^A28 (new person) for a child with a valid NHS number."""
    gender = rng.choice("MF")
    dob = random_day(rng, date(2008, 1, 1), date(2020, 12, 31)).strftime("%Y%m%d")
    stamp = f"202503{rng.randint(10, 28)}{rng.randint(8, 17):02d}{rng.randint(0, 59):02d}00"
    family, given = rng.choice(SURNAMES).upper(), rng.choice(FORENAMES[gender]).upper()
    segments = (
        f"MSH|^~\\&|PAS|R9Z|CRADLE|LA201|{stamp}||ADT^A28^ADT_A05|R9Z{number:010d}|P|2.4|||AL|NE"
        "|GBR|UNICODE|EN||iTKv1.0",
        f"EVN|A28|{stamp}",
        f"PID|1||{nhs}^^^NHS^NH~R9Z{number:07d}^^^R9Z^MR||{family}^{given}^^^^^L||{dob}|"
        f"{gender}|||{rng.randint(1, 99)} MILL LANE^^NORTHSHIRE^^NS1 2AB^GBR^H||01632 960123^PRN^PH"
        "|||||||||A|||||||||NSTS01",
        "PD1|||MILL LANE SURGERY^^Y99901|G9999991^KHAN^IMRAN^^^DR^^^GMP",
        f"NK1|1|{family}^CHIOMA^^^MRS|MTH^Mother^HL70063|10 MILL LANE^^NORTHSHIRE^^NS1 2AB^GBR^H",
        "PV1|1|N")
    return ("\r".join(segments) + "\r").encode()


def hl7_batch(messages: list[bytes]) -> bytes:
    """An HL7 batch file: the messages inside one FHS/BHS ... BTS/FTS envelope."""
    count = str(len(messages)).encode()
    return b"".join([b"FHS|^~\\&|PAS|R9Z\rBHS|^~\\&|PAS|R9Z\r", *messages,
                     b"BTS|" + count + b"\rFTS|1\r"])


# --- the server -----------------------------------------------------------------------------

def start_server(uri: str, workers: int, data_dir: Path) -> Server:
    """`cradle serve` with auth on and profiles enforced: agency records are mapped onto
    profiled resources."""
    return auth_bench.start_server("on", uri, DATABASE, workers, data_dir, auth=True,
                                   enforce_profiles=True)


def operator_token(data_dir: Path) -> str:
    """What `cradle token --data-dir D` (no --agency) prints."""
    service = TokenService(signing_key(Settings(data_dir=data_dir)), ttl=3600)
    return service.issue("cli:operator", None, Scopes.parse("system/*.cruds"), operator=True,
                         purpose="HOPERAT")[0]


def register_agency(base: str, operator: str, org_id: str, kind: str) -> None:
    response = httpx.put(f"{base}/fhir/Organization/{org_id}", json={
        "resourceType": "Organization", "id": org_id, "name": f"bench {kind} service",
        "meta": {"profile": [AGENCY_PROFILE]},
        "type": [{"coding": [{"system": AGENCY_TYPE, "code": kind}]}]},
        headers={"Authorization": f"Bearer {operator}",
                 "Content-Type": "application/fhir+json"}, timeout=60)
    if response.status_code not in (200, 201):
        raise SystemExit(f"PUT Organization/{org_id}: {response.status_code} {response.text}")


def patient_count(base: str, operator: str) -> int:
    response = httpx.get(f"{base}/fhir/Patient", params={"_summary": "count"},
                         headers={"Authorization": f"Bearer {operator}"}, timeout=120)
    response.raise_for_status()
    return int(response.json()["total"])


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def worker_pids(server: Server, workers: int) -> list[int]:
    """The uvicorn worker processes (the serve process itself when it runs one worker)."""
    if workers <= 1:
        return [server.process.pid]
    pids = [p for p in descendants(server.process.pid)
            if b"multiprocessing" in _cmdline(p) and b"resource_tracker" not in _cmdline(p)]
    return pids or [server.process.pid]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peaks(pids: list[int]) -> bool:
    """Reset each process's VmHWM to its current RSS (Linux clear_refs 5); False if denied."""
    ok = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


# --- ingest ---------------------------------------------------------------------------------

@dataclass
class Part:
    name: str
    records: int = 0
    stored: int = 0
    rejected: int = 0
    posts: int = 0
    failed_posts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rss_before_mb: float = 0.0
    peak_mb: list[float] = field(default_factory=list)  # per worker
    db_docs: dict[str, int] = field(default_factory=dict)  # documents written, per collection
    raw_patient: float = 0.0  # records/s, one Patient-sized document per record
    raw_all: float = 0.0  # records/s, every document Cradle wrote per record
    raw_same: float = 0.0  # records/s, copies of those documents, with Cradle's indexes
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per record, per process
    stored_refs: list[str] = field(default_factory=list)  # a sample of what was stored
    worker_split: list[int] = field(default_factory=list)  # % of the workers' CPU, per worker
    feed: bool = False  # one record per POST on kept-alive connections
    doc_bytes: int = 0
    all_bytes: int = 0
    skipped: str = ""

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0


def tally(part: Part, response: httpx.Response) -> None:
    part.posts += 1
    if response.status_code == 422:  # every record of the post rejected
        part.rejected += 1
        if part.rejected <= 3:
            print(f"  rejected (422): {response.text[:400]}", file=sys.stderr)
        return
    if response.status_code != 200:
        part.failed_posts.append(f"{response.status_code} {response.text[:300]}")
        return
    for parameter in orjson.loads(response.content)["parameter"]:
        if len(part.stored_refs) < 1000:
            part.stored_refs += [p["valueReference"]["reference"] for p in parameter["part"]
                                 if p["name"] in ("created", "updated")]
        outcome = next(p["valueCode"] for p in parameter["part"] if p["name"] == "outcome")
        if outcome == "stored":
            part.stored += 1
        else:
            part.rejected += 1
            if part.rejected <= 3:
                issues: Any = next((p["resource"] for p in parameter["part"]
                               if p["name"] == "issues"), {})
                print(f"  rejected: {orjson.dumps(issues)[:400].decode()}", file=sys.stderr)


async def post_all(part: Part, url: str, token: str, media: str, bodies: list[bytes],
                   concurrency: int) -> None:
    todo = iter(bodies)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": media,
               "Accept": "application/fhir+json"}
    # Files: a connection per POST, as a client posting files opens (uvicorn workers share
    # one listening socket, and a few keep-alive connections can all land on one worker).
    # A feed of single messages keeps its connections, as a live interface does.
    keep = concurrency if part.feed else 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=keep)
    async with httpx.AsyncClient(timeout=1800, limits=limits) as http:
        async def worker() -> None:
            for body in todo:
                tally(part, await http.post(url, content=body, headers=headers))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        part.seconds = time.perf_counter() - started


async def collection_counts(uri: str) -> dict[str, int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        db = client[DATABASE]
        counts = {}
        for name in ("resources", "history", "audit"):
            kinds = [k for k in await db[name].distinct("t") if isinstance(k, str)]
            for kind in kinds:
                counts[f"{name}:{kind}"] = await db[name].count_documents({"t": kind})
            if not kinds:
                counts[f"{name}:*"] = await db[name].estimated_document_count()
        return counts
    finally:
        await client.close()


def ingest(part: Part, server: Server, workers: int, database_pid: int, uri: str, url: str,
           token: str, media: str, bodies: list[bytes], concurrency: int) -> None:
    pids = worker_pids(server, workers)
    if not reset_peaks(pids):
        print("  note: could not reset VmHWM; peaks include earlier work", file=sys.stderr)
    part.rss_before_mb = sum(status_kb(p, "VmRSS") for p in pids) / 1024
    before = asyncio.run(collection_counts(uri))
    per_worker = [cpu_seconds(p) for p in pids]
    cpu_before = [sum(per_worker), cpu_seconds(database_pid)]
    asyncio.run(post_all(part, url, token, media, bodies, concurrency))
    spent = [cpu_seconds(p) - before for p, before in zip(pids, per_worker, strict=True)]
    cpu_after = [sum(per_worker) + sum(spent), cpu_seconds(database_pid)]
    part.cpu_ms = {name: 1000 * (after - before) / max(part.stored, 1) for name, before, after
                   in zip(("workers", "database"), cpu_before, cpu_after, strict=True)}
    part.worker_split = [round(100 * s / max(sum(spent), 1e-9)) for s in spent]
    part.peak_mb = [status_kb(p, "VmHWM") / 1024 for p in pids]
    after = asyncio.run(collection_counts(uri))
    part.db_docs = {k: after[k] - before.get(k, 0) for k in after
                    if after[k] - before.get(k, 0) > 0}


# --- the raw database limit -----------------------------------------------------------------

async def raw_limit(part: Part, uri: str, type_filter: dict[str, Any], batch: int) -> None:
    """pymongo insert_many, in chunks of `batch`, into the same database: (1) one document per
    record, a copy of a Patient document Cradle stored; (2) per record, as many documents of
    the average size Cradle wrote (resources + history + audit) during the part."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client[DATABASE]
    try:
        samples = {key: await stored_sample(db, part, key) for key in part.db_docs}
        sample = dict(next(iter(samples.get(f"resources:{type_filter['t']}", []))))
        sample.pop("_id")
        part.doc_bytes = len(orjson.dumps(sample, default=str))
        written = sum(part.db_docs.values())
        total_bytes = 0.0
        for key, count in part.db_docs.items():
            sizes = [len(orjson.dumps(doc, default=str)) for doc in samples[key]]
            total_bytes += count * (sum(sizes) / len(sizes) if sizes else part.doc_bytes)
        average = int(total_bytes / max(written, 1))
        part.all_bytes = int(total_bytes / max(part.stored, 1))

        async def insert(collection: str, docs: int, make: Any) -> float:
            coll = db[collection]
            await coll.drop()
            started = time.perf_counter()
            for start in range(0, docs, batch):
                await coll.insert_many([make() for _ in range(min(batch, docs - start))],
                                       ordered=False)
            elapsed = time.perf_counter() - started
            await coll.drop()
            return elapsed

        part.raw_patient = part.stored / await insert("bench_raw_patient", part.stored,
                                                      lambda: dict(sample))
        filler = {"t": "Raw", "body": b"x" * max(average - 40, 1)}
        part.raw_all = part.stored / await insert("bench_raw_all", written, lambda: dict(filler))
        # Copies of a sample of 200 documents per type, for at most 10,000 records' worth: on
        # more, SecantusDB slows to a crawl under the many equal search keys of the copies.
        records = min(part.stored, SAME_DOCUMENTS_RECORDS)
        share = {k: round(v * records / max(part.stored, 1)) for k, v in part.db_docs.items()}
        part.raw_same = records / await same_documents(db, share, samples, batch)
    finally:
        await client.close()


async def stored_sample(db: Any, part: Part, key: str) -> list[dict[str, Any]]:
    """Up to 200 documents of `key` (`collection:type`) Cradle wrote in the part, found by id
    or by search key from the references it answered (a `limit` on a type scan would make
    SecantusDB read every document of the type first)."""
    name, kind = key.split(":", 1)
    refs = part.stored_refs[:200]
    found = [d async for d in db[name].find({"_id": {"$in": [r for r in refs
                                                              if r.startswith(kind + "/")]}})]
    if not found:
        keys = [f"{p}|{r}" for p in ("patient", "target", "entity", "subject") for r in refs]
        found = [d async for d in db[name].find({"t": kind, "d": {"$in": keys}})]
    return found[:200]


async def same_documents(db: Any, written: dict[str, int],
                         samples: dict[str, list[dict[str, Any]]], batch: int) -> float:
    """Seconds to insert, per collection, as many copies of the documents Cradle wrote there
    (cycling through a sample, fresh `_id`s) into a new collection with the same indexes."""
    elapsed = 0.0
    for key, count in written.items():
        name, kind = key.split(":", 1)
        sample = samples[key]
        if not sample:
            continue
        copy = db[f"bench_same_{name}"]
        for index in (await db[name].index_information()).values():
            if index["key"] != [("_id", 1)]:
                await copy.create_index(index["key"])
        started = time.perf_counter()
        for start in range(0, count, batch):
            docs = [{**sample[i % len(sample)], "_id": f"copy-{kind}-{i}"}
                    for i in range(start, min(start + batch, count))]
            await copy.insert_many(docs, ordered=False)
        elapsed += time.perf_counter() - started
    for name in ("resources", "history", "audit"):
        await db[f"bench_same_{name}"].drop()
    return elapsed


# --- report ---------------------------------------------------------------------------------

def report(args: argparse.Namespace, parts: list[Part], counts: list[str]) -> None:
    print(f"\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {os.cpu_count()} cores, load average before the run "
          f"{args.load_before}; server workers: {args.workers}; auth on, profiles enforced; "
          "numbers are noisy (shared machine)\n")
    print("| part | records stored (rejected) | posts | Cradle s | Cradle records/s "
          "| peak RSS MB per worker (VmHWM; RSS sum before) | docs written per record "
          "| DB insert_many records/s (1 doc, bytes) | Cradle/DB | DB insert_many records/s (all docs, bytes/record) "  # noqa: E501
          "| Cradle/DB | DB insert_many records/s (same docs, Cradle's indexes) | Cradle/DB "
          "| CPU ms per record: workers (% per worker) + database |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for part in parts:
        if part.skipped:
            print(f"| {part.name} | skipped: {part.skipped} | | | | | | | | | | | | |")
            continue
        per = sum(part.db_docs.values()) / max(part.stored, 1)
        detail = ", ".join(f"{k.replace(':*', '')} {v / max(part.stored, 1):.2g}"
                           for k, v in sorted(part.db_docs.items()))
        peaks = " / ".join(f"{p:.0f}" for p in part.peak_mb)
        print(f"| {part.name} | {part.stored} ({part.rejected}) | {part.posts} "
              f"| {part.seconds:.1f} | {part.rate:.0f} "
              f"| {peaks} ({part.rss_before_mb:.0f}) | {per:.1f} ({detail}) "
              f"| {part.raw_patient:.0f} ({part.doc_bytes} B) "
              f"| {part.rate / part.raw_patient:.1%} "
              f"| {part.raw_all:.0f} ({part.all_bytes} B) | {part.rate / part.raw_all:.1%} "
              f"| {part.raw_same:.0f} | {part.rate / part.raw_same:.1%} "
              f"| {part.cpu_ms['workers']:.2f} ({'/'.join(map(str, part.worker_split))}%) "
              f"+ {part.cpu_ms['database']:.2f} |")
    for line in counts:
        print(line)
    for part in parts:
        for failure in part.failed_posts[:5]:
            print(f"FAILED POST ({part.name}): {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="Connexions CSV rows")
    parser.add_argument("--messages", type=int, default=10_000, help="HL7 v2 ADT messages")
    parser.add_argument("--batch", type=int, default=2_000, help="CSV rows per POST")
    parser.add_argument("--hl7-batch", type=int, default=500,
                        help="HL7 messages per batch file in (b)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="concurrent POSTs of CSV and HL7 batch files")
    parser.add_argument("--hl7-concurrency", type=int, default=6, help="concurrent HL7 POSTs")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--seed", type=int, default=2503)
    args = parser.parse_args()
    args.load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rng = random.Random(args.seed)
    numbers = nhs_numbers(rng, args.rows + 2 * args.messages)
    csv_bodies = csv_files([csv_row(rng, i, numbers[i]) for i in range(args.rows)], args.batch)
    adt = [adt_message(rng, i, numbers[args.rows + i]) for i in range(2 * args.messages)]
    hl7_files = [hl7_batch(adt[i:i + args.hl7_batch])
                 for i in range(0, args.messages, args.hl7_batch)]
    hl7_feed = adt[args.messages:]
    connexions = Part("(a) Connexions CSV", records=args.rows)
    health = Part("(b) HL7 v2 ADT^A28, batch files", records=args.messages)
    feed = Part("(c) HL7 v2 ADT^A28, one per POST", records=args.messages, feed=True)
    counts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        server = start_server(db.uri, args.workers, Path(tmp))
        try:
            base = f"http://127.0.0.1:{server.port}"
            operator = operator_token(server.data_dir)
            for org, kind in (("bench-connexions", "connexions"), ("bench-health", "health")):
                register_agency(base, operator, org, kind)
            print(f"posting {args.rows} CSV rows in {len(csv_bodies)} files of <= {args.batch} "
                  f"rows, {args.concurrency} at a time...", file=sys.stderr)
            assert db.process is not None
            database_pid = db.process.pid
            ingest(connexions, server, args.workers, database_pid, db.uri,
                   f"{base}/agencies/connexions/records",
                   agency_token(server.data_dir, "bench-connexions"), "text/csv", csv_bodies,
                   args.concurrency)
            after_csv = patient_count(base, operator)
            counts.append(f"\nPatients stored after (a): {after_csv} for {args.rows} rows posted "
                          f"({connexions.stored} stored): "
                          f"{'ok' if after_csv == args.rows else 'MISMATCH'}")
            expected = args.rows
            health_parts = ((health, hl7_files, args.concurrency, "in batch files"),
                            (feed, hl7_feed, args.hl7_concurrency, "one per POST"))
            for part, bodies, concurrency, how in health_parts:
                if not HEALTH_MAP.exists():
                    part.skipped = f"{HEALTH_MAP.relative_to(ROOT)} does not exist"
                    print(f"NOTE: HL7 part skipped: {part.skipped}", file=sys.stderr)
                    continue
                if not args.messages:
                    continue
                print(f"posting {args.messages} HL7 messages {how}, {concurrency} at a time...",
                      file=sys.stderr)
                ingest(part, server, args.workers, database_pid, db.uri,
                       f"{base}/agencies/health/records",
                       agency_token(server.data_dir, "bench-health"), "application/hl7-v2",
                       bodies, concurrency)
                expected += args.messages
                total = patient_count(base, operator)
                counts.append(f"Patients stored after {part.name[:3]}: {total} for {expected} "
                              "records posted (distinct NHS numbers): "
                              f"{'ok' if total == expected else 'MISMATCH'}")
        finally:
            server.stop()
        print("measuring the raw database limit...", file=sys.stderr)
        parts = [connexions, health, feed]
        for part in parts:
            if part.stored and not part.skipped:
                asyncio.run(raw_limit(part, db.uri, {"t": "Patient"}, args.batch))
    report(args, [p for p in parts if p.records], counts)


if __name__ == "__main__":
    main()
