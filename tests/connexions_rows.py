"""Connexions CCIS extract rows made up for tests: distinct young people with valid NHS
numbers, built from a sample row (so every other column stays realistic)."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "mappings" / "connexions" / "samples"


def nhs_number(seed: int) -> str:
    """A valid (Modulus 11) NHS number derived from `seed`."""
    while True:
        digits = f"{900000000 + seed:09d}"
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11
        if check != 10:
            return digits + ("0" if check == 11 else str(check))
        seed += 1


def extract(rows: int, first: int) -> list[str]:
    """A CCIS extract header and `rows` rows of distinct young people (Tyler's row, re-keyed)."""
    sample = SAMPLES / "ccis-2503-tyler-brennan-neet-seeking.csv"
    header, row = sample.read_text().splitlines()[:2]
    fields = row.split(",")
    lines = [header]
    for n in range(first, first + rows):
        fields[0], fields[4], fields[5], fields[6] = f"20190{n:08d}", "", "", nhs_number(n * 7)
        lines.append(",".join(fields))
    return lines
