"""Which common-model elements each agency's map fills: the overlap matrix that shows where
agencies hold (and so duplicate) the same data. Read from the maps themselves, so it cannot
drift from what the mappings do."""

from __future__ import annotations

import html
from dataclasses import dataclass

from server.mapping.catalog import Agency
from server.mapping.paths import Index, Key, Match, Path


@dataclass(frozen=True)
class Coverage:
    agencies: tuple[str, ...]
    elements: tuple[str, ...]  # e.g. "Patient.identifier(nhs-number)", "Flag.category"
    filled: frozenset[tuple[str, str]]  # (element, agency)

    def fills(self, element: str, agency: str) -> bool:
        return (element, agency) in self.filled

    def shared(self, a: str, b: str) -> int:
        """How many elements both agencies fill (a == b: how many `a` fills)."""
        return sum(1 for e in self.elements if self.fills(e, a) and self.fills(e, b))


def element_name(resource_type: str, path: Path, depth: int = 2) -> str:
    """Return the element a rule writes, as a person reads it: positions dropped, a slice
    kept by the last segment of its discriminating value (`identifier(nhs-number)`)."""
    out: list[str] = [resource_type]
    for atom in path.atoms:
        if isinstance(atom, Key):
            if len(out) > depth:
                break
            out.append(atom.name)
        elif isinstance(atom, Match) and atom.key in ("system", "url", "code.text"):
            out[-1] += f"({atom.value.rstrip('/').rsplit('/', 1)[-1]})"
        elif isinstance(atom, Index):
            continue
    return ".".join(out)


def coverage(agencies: dict[str, Agency]) -> Coverage:
    """Return the element x agency coverage of every map."""
    filled: set[tuple[str, str]] = set()
    for name, agency in agencies.items():
        for resource_map in agency.mapping.walk():
            for rule in resource_map.rules:
                if rule.native is None and rule.expression is None:
                    continue  # constants and references say nothing about the agency's data
                filled.add((element_name(resource_map.type, rule.fhir), name))
    elements = tuple(sorted({e for e, _ in filled}))
    return Coverage(tuple(sorted(agencies)), elements, frozenset(filled))


def as_text(cov: Coverage) -> str:
    """Return the matrix as a plain-text table (X = the agency fills the element)."""
    width = max([len(e) for e in cov.elements] + [7])
    lines = [" " * width + "  " + "  ".join(a[:11].ljust(11) for a in cov.agencies)]
    for element in cov.elements:
        cells = "  ".join(("X" if cov.fills(element, a) else ".").ljust(11)
                          for a in cov.agencies)
        lines.append(element.ljust(width) + "  " + cells)
    lines.append("")
    lines.append("shared elements (agency x agency):")
    for a in cov.agencies:
        lines.append(a.ljust(12) + " ".join(str(cov.shared(a, b)).rjust(11)
                                            for b in cov.agencies))
    return "\n".join(lines) + "\n"


def as_html(cov: Coverage) -> str:
    """Return a self-contained HTML page: the element grid and the overlap heat-map (SVG)."""
    esc = html.escape
    head = "".join(f"<th>{esc(a)}</th>" for a in cov.agencies)
    rows = []
    for element in cov.elements:
        count = sum(cov.fills(element, a) for a in cov.agencies)
        cells = "".join(
            f'<td class="{"on" if cov.fills(element, a) else "off"}" '
            f'style="opacity:{0.35 + 0.65 * count / max(len(cov.agencies), 1):.2f}">'
            f'{"&#9632;" if cov.fills(element, a) else ""}</td>' for a in cov.agencies)
        rows.append(f"<tr><th class=el>{esc(element)}</th>{cells}<td>{count}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cradle mapping coverage</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:center}} th.el{{text-align:left;
font-weight:normal;font-family:monospace}} td.on{{background:#c0392b;color:#fff}}
td.off{{background:#f4f4f4}}
</style></head><body>
<h1>Which common-model elements each agency fills</h1>
<p>From the maps in <code>mappings/*/map.json</code>. A red cell: the agency's native records
carry that element. Rows filled by several agencies are where the same data is held twice.</p>
<h2>Overlap heat-map (elements both agencies fill)</h2>
{_svg(cov)}
<h2>Elements by agency</h2>
<table><tr><th>element</th>{head}<th>agencies</th></tr>
{"".join(rows)}
</table></body></html>
"""


def _svg(cov: Coverage) -> str:
    size, label = 56, 110
    n = len(cov.agencies)
    top = max([cov.shared(a, a) for a in cov.agencies] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label + n * size + 10}" '
             f'height="{label + n * size + 10}" role="img" aria-label="overlap heat-map">']
    for i, a in enumerate(cov.agencies):
        parts.append(f'<text x="{label - 6}" y="{label + i * size + size // 2 + 4}" '
                     f'text-anchor="end" font-size="12">{html.escape(a)}</text>')
        parts.append(f'<text x="{label + i * size + size // 2}" y="{label - 8}" '
                     f'text-anchor="middle" font-size="12">{html.escape(a[:9])}</text>')
        for j, b in enumerate(cov.agencies):
            value = cov.shared(a, b)
            shade = int(255 - 200 * value / top)
            parts.append(f'<rect x="{label + j * size}" y="{label + i * size}" width="{size}" '
                         f'height="{size}" fill="rgb(255,{shade},{shade})" stroke="#fff"/>'
                         f'<text x="{label + j * size + size // 2}" '
                         f'y="{label + i * size + size // 2 + 4}" text-anchor="middle" '
                         f'font-size="13">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)
