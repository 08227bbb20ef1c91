"""The one-screen summary ``funnel preprocess`` prints at the end."""

from __future__ import annotations

from funnel import schema
from pipelines.validate import REASONS


def format_summary(result) -> str:
    """Counts, dead-letter reasons and where the output is, in at most ~25 lines."""
    stats = result.stats
    dead = stats["rows_deadlettered"]
    lines = [
        f"funnel preprocess: {stats['format']} -> {result.out}  ({result.seconds:.1f} s, {result.runner})",
        f"  rows read        {stats['rows_read']:>12,}",
        f"  rows kept        {stats['rows_kept']:>12,}",
        f"  dead-lettered    {sum(dead.values()):>12,}" + ("" if dead else "  (none)"),
    ]
    for reason, count in sorted(dead.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {reason:<24}{count:>10,}  {REASONS.get(reason, '')}")
    for name, counts in stats.get("reference_files", {}).items():
        lines.append(f"  {name}: {counts['rows_read']:,} rows read, {counts['rows_kept']:,} kept, "
                     f"{sum(counts['rows_deadlettered'].values()):,} dead-lettered"
                     + "".join(f", {n:,} {r}" for r, n in counts["rows_deadlettered"].items()))
    examples, ranking = stats["examples"], stats["ranking_examples"]
    lines += [
        f"  users            {stats['users']:>12,}   ({stats['users_too_short']:,} too short for a test example)",
        f"  items            {stats['items']:>12,}   ({stats['head_items']:,} head items)",
        "  retrieval        " + "  ".join(f"{s} {examples[s]:,}" for s in schema.SPLITS),
        "  ranking          " + "  ".join(f"{s} {ranking[s]:,}" for s in schema.SPLITS)
        + f"   positive rate {stats['positive_rate']:.3f}",
    ]
    if stats.get("ranking_rows_skived"):
        lines.append(f"  Skive-Above dropped {stats['ranking_rows_skived']:,} impression rows")
    lines += [f"  stats            {result.out / 'stats.json'}",
              f"  dead letters     {result.out / 'deadletter'}"]
    return "\n".join(lines)
