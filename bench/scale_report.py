"""Markdown tables from the JSON of ``bench/scale.py``.

python -m bench.scale_report [/tmp/secureauth-scale.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SHORT = {
    "secureauth_refreshtoken": "refresh tokens",
    "secureauth_session": "sessions",
    "secureauth_auditevent": "audit events",
    "auth_user": "users",
}


def storage(result: dict[str, Any]) -> list[str]:
    before, after = result["storage"]["before"], result["storage"]["after"]
    lines = [
        "| table | rows | heap B/row before | after | indexes B/row before | after "
        "| indexes dropped (−) and added (+) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for table, old in before.items():
        new = after[table]
        gone = sorted(set(old["indexes"]) - set(new["indexes"]))
        added = sorted(set(new["indexes"]) - set(old["indexes"]))
        change = " ".join([f"−`{n}`" for n in gone] + [f"+`{n}`" for n in added])
        cells = [
            SHORT[table],
            f"{old['rows']:,}",
            f"{old['heap_per_row']:.0f}",
            f"{new['heap_per_row']:.0f}",
            f"{old['indexes_per_row']:.0f}",
            f"{new['indexes_per_row']:.0f}",
            change or "unchanged",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def full_size(result: dict[str, Any]) -> list[str]:
    lines = [
        "| table | rows | heap MB | B/row | index | MB | B/row |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for table, info in result["full"]["sizes"].items():
        rows = info["rows"]
        first = True
        for index, data in info["indexes"].items():
            head = (
                [
                    SHORT[table],
                    f"{rows:,}",
                    f"{info['heap_per_row'] * rows / 1e6:.0f}",
                    f"{info['heap_per_row']:.0f}",
                ]
                if first
                else ["", "", "", ""]
            )
            first = False
            cells = head + [
                f"`{index}`",
                f"{data['per_row'] * rows / 1e6:.0f}",
                f"{data['per_row']:.0f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def lookups(result: dict[str, Any]) -> list[str]:
    full, small = result["lookups_full"], result["lookups_small"]
    lines = [
        "| call | 10,000 tokens: median (mean) µs | full size: median (mean) µs "
        "| ratio of medians |",
        "|---|---:|---:|---:|",
    ]
    for name in ("session check", "refresh lookup"):
        s, f = small[name], full[name]
        lines.append(
            f"| {name} | {s['median_us']:.0f} ({s['mean_us']:.0f}) | {f['median_us']:.0f} "
            f"({f['mean_us']:.0f}) | {f['median_us'] / s['median_us']:.2f} |"
        )
    return lines


def cleanup(result: dict[str, Any]) -> list[str]:
    alone, plain, loaded = result["cleanup"], result["plain_sql"], result["cleanup_under_load"]
    total = sum(alone["counts"].get(k, 0) for k in ("refresh tokens", "sessions", "audit events"))
    lines = [
        "| run | wall s | peak RSS MB | rows deleted |",
        "|---|---:|---:|---:|",
        f"| `secureauth_cleanup --dry-run` | {result['dry_run']['wall_s']:.1f} | | |",
        f"| `secureauth_cleanup`, alone | {alone['wall_s']:.1f} | {alone['peak_rss_mb']:.0f} "
        f"| {total:,} |",
        f"| plain batched SQL, identical copy | {plain['wall_s']:.1f} | | "
        f"{sum(plain['counts'].values()):,} |",
        f"| `secureauth_cleanup`, under the refresh load | {loaded['wall_s']:.1f} "
        f"| {loaded['peak_rss_mb']:.0f} | |",
        f"| `secureauth_cleanup` on the 10,000-token database "
        f"| {result['cleanup_small']['wall_s']:.1f} "
        f"| {result['cleanup_small']['peak_rss_mb']:.0f} | |",
        "",
        f"Ratio to plain SQL: **{alone['wall_s'] / plain['wall_s']:.2f}×**. "
        f"Counted by the dry run: {result['dry_run']['output'].strip().splitlines()[-1]} "
        f"Deleted by the command: {alone['counts']}; by plain SQL: {plain['counts']}. "
        f"UPDATEs issued by the cleanup: {alone['updates']}.",
        "",
        "Refresh load during the cleanup: "
        + ", ".join(
            f"{k} {v if not isinstance(v, float) else round(v, 1)}"
            for k, v in loaded["load"].items()
        ),
    ]
    return lines


def plans(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, plan in result["lookups_full"]["plans"].items():
        lines += [f"{name}:", "", "```", *plan, "```", ""]
    return lines


def main(argv: list[str]) -> None:
    result = json.loads(Path(argv[0] if argv else "/tmp/secureauth-scale.json").read_text())
    storage_ = result["storage"]
    print(
        f"Sizes: {result['sizes']}, batch size {result['batch_size']}; build "
        f"{result['full']['build_s']:.0f} s. Storage migration on {storage_['rows']}: "
        f"{storage_['migration_s']:.0f} s, then VACUUM FULL of the token table "
        f"{storage_['vacuum_full_s']:.0f} s.\n"
    )
    for section in (storage, full_size, lookups, cleanup, plans):
        try:
            print("\n".join(section(result)) + "\n")
        except KeyError as missing:  # a partial run (--rounds 0, or stopped early)
            print(f"({section.__name__}: not measured, no {missing})\n")


if __name__ == "__main__":
    main(sys.argv[1:])
