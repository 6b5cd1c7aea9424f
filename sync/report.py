"""What the appraisal office reads: the results as one document (``collect``), and that
document as CSV, an Excel sheet for the year-end assessment, JSON, or ONE self-contained
HTML file (inline SVG drawn here, no script, no external style or font).

Everything shown comes from the results tables (``sync.score``) and the ledger; the
provenance (responses excluded by appeals, groups missing, no work assessment) is shown
next to the figures it affects.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import ledger
from sync import models as m
from sync.score import GRADE_NAMES, campaign_of, wilson

if TYPE_CHECKING:
    from sync.catalogue import Catalogue

COLUMNS = [
    ("system", "系统"),
    ("rank_in_system", "系统内排名"),
    ("rank_in_district", "全区排名"),
    ("unit", "单位代码"),
    ("unit_name", "单位名称"),
    ("composite", "综合得分"),
    ("questionnaire_score", "问卷得分"),
    ("work_score", "工作考核得分"),
    ("satisfaction_rate", "满意率"),
    ("rate_low", "满意率下限(95%)"),
    ("rate_high", "满意率上限(95%)"),
    ("responses", "有效答卷"),
    ("excluded_responses", "申诉剔除答卷"),
    ("grade", "等次"),
    ("grade_reason", "说明"),
    ("notes", "备注"),
]


def collect(
    engine: Engine,
    catalogue: Catalogue,
    campaign_code: str,
    *,
    system: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The campaign's results as plain data, systems in catalogue order, units by rank."""
    campaign = campaign_of(catalogue, campaign_code)
    u, d = m.ResultUnit, m.ResultDimension
    with engine.connect() as conn:
        units = [
            dict(r)
            for r in conn.execute(sa.select(u).where(u.campaign_code == campaign_code)).mappings()
        ]
        counts = {
            unit: (int(sat or 0), int(cnt or 0))
            for unit, sat, cnt in conn.execute(
                sa.select(d.unit_code, sa.func.sum(d.satisfied), sa.func.sum(d.counted))
                .where(d.campaign_code == campaign_code, d.group_code.in_(sorted(campaign.groups)))
                .group_by(d.unit_code)
            )
        }
        systems = {
            r["system_code"]: dict(r)
            for r in conn.execute(
                sa.select(m.ResultSystem).where(m.ResultSystem.campaign_code == campaign_code)
            ).mappings()
        }
        excluded = ledger.excluded_by_unit(conn, campaign_code)
    order = {code: i for i, code in enumerate(catalogue.systems)}
    out_systems: list[dict[str, Any]] = []
    for code in sorted({x["system_code"] for x in units}, key=lambda c: order.get(c, 1 << 30)):
        if system is not None and code != system:
            continue
        rows = [_unit_doc(x, catalogue, campaign.groups, counts, excluded) for x in units]
        rows = [x for x in rows if x["system"] == code]
        rows.sort(key=lambda x: (x["rank_in_system"] is None, x["rank_in_system"] or 0, x["unit"]))
        sysrow = systems.get(code, {})
        out_systems.append(
            {
                "system": code,
                "system_name": catalogue.systems[code].name if code in catalogue.systems else code,
                "score": sysrow.get("score"),
                "rank": sysrow.get("rank"),
                "satisfaction_rate": sysrow.get("satisfaction_rate"),
                "units_scored": sysrow.get("units_scored", 0),
                "units": rows,
            }
        )
    late = ledger.overdue(engine, today or dt.date.today(), campaign=campaign_code)
    return {
        "campaign": campaign_code,
        "campaign_name": campaign.name,
        "rules": {
            "groups": {_group_name(catalogue, g): r.weight for g, r in campaign.groups.items()},
            "questionnaire_weight": campaign.questionnaire_weight,
            "work_assessment_weight": campaign.work_assessment_weight,
            "advanced_min": campaign.grades.advanced_min,
            "passing_min": campaign.grades.passing_min,
            "advanced_quota": campaign.grades.advanced_quota,
            "tie": campaign.grades.tie,
        },
        "systems": out_systems,
        "excluded_responses": sum(excluded.values()),
        "overdue": [
            {
                "id": i["id"],
                "unit": i["unit_code"],
                "unit_name": i["unit_name"],
                "content": i["content"],
                "status": i["status"],
                "responsible": i["responsible"],
                "deadline": i["deadline"].isoformat() if i["deadline"] else None,
            }
            for i in late
            if system is None
            or catalogue.units.get(i["unit_code"]) is None
            or catalogue.units[i["unit_code"]].system == system
        ],
    }


def _unit_doc(
    row: dict[str, Any],
    catalogue: Catalogue,
    groups: Iterable[str],
    counts: dict[str, tuple[int, int]],
    excluded: dict[str, int],
) -> dict[str, Any]:
    code = row["unit_code"]
    sat, cnt = counts.get(code, (0, 0))
    bounds = wilson(sat, cnt)
    notes = []
    missing = sorted(set(groups) - set(row["groups_present"] or ()))
    if row["composite"] is not None and missing:
        names = "、".join(_group_name(catalogue, g) for g in missing)
        notes.append(f"缺少或样本不足: {names}（权重已重新归一）")
    if row["composite"] is not None and row["work_score"] is None:
        notes.append("无工作考核得分，仅计问卷")
    if excluded.get(code):
        notes.append(f"申诉剔除 {excluded[code]} 份答卷")
    return {
        "system": row["system_code"],
        "unit": code,
        "unit_name": catalogue.units[code].name if code in catalogue.units else code,
        "rank_in_system": row["rank_in_system"],
        "rank_in_district": row["rank_in_district"],
        "composite": row["composite"],
        "questionnaire_score": _round(row["questionnaire_score"], 4),
        "work_score": row["work_score"],
        "satisfaction_rate": _round(row["satisfaction_rate"], 4),
        "rate_low": None if bounds is None else round(bounds[0], 4),
        "rate_high": None if bounds is None else round(bounds[1], 4),
        "responses": row["responses"],
        "excluded_responses": excluded.get(code, 0),
        "grade": GRADE_NAMES.get(row["grade"] or "", None),
        "grade_code": row["grade"],
        "grade_reason": row["grade_reason"],
        "exempt": row["exempt"],
        "vetoed": row["vetoed"],
        "notes": "；".join(notes),
    }


def _group_name(catalogue: Catalogue, code: str) -> str:
    group = catalogue.groups.get(code)
    return group.name if group is not None else code


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def flat_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**unit, "system": s["system_name"]} for s in doc["systems"] for unit in s["units"]]


# ----------------------------------------------------------------------- file formats


def to_csv(doc: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([label for _, label in COLUMNS])
    for row in flat_rows(doc):
        writer.writerow(["" if row[k] is None else row[k] for k, _ in COLUMNS])
    return buf.getvalue()


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str)


def write_xlsx(doc: dict[str, Any], path: Path) -> Path:
    """The year-end assessment sheet: one sheet of all units, one per system, and the
    overdue rectification items."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "全区汇总"
    _sheet(sheet, flat_rows(doc), doc)
    for s in doc["systems"]:
        ws = book.create_sheet(_sheet_title(s["system_name"]))
        _sheet(ws, [{**u, "system": s["system_name"]} for u in s["units"]], doc)
    late = book.create_sheet("逾期整改")
    late.append(["编号", "单位", "内容", "状态", "责任人", "整改期限"])
    for i in doc["overdue"]:
        late.append(
            [i["id"], i["unit_name"], i["content"], i["status"], i["responsible"], i["deadline"]]
        )
    for ws in book.worksheets:
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for idx in range(1, ws.max_column + 1):
            ws.column_dimensions[get_column_letter(idx)].width = 14
        ws.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _sheet_title(name: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    clean = "".join("_" if c in "[]:*?/\\" else c for c in name)
    return clean[:31] or "系统"


def _sheet(ws: Any, rows: list[dict[str, Any]], doc: dict[str, Any]) -> None:
    ws.append([label for _, label in COLUMNS])
    for row in rows:
        ws.append([row[k] for k, _ in COLUMNS])
    ws.append([])
    rules = doc["rules"]
    ws.append(
        [
            f"{doc['campaign_name']}：综合得分 = 问卷 × {rules['questionnaire_weight']}"
            f" + 工作考核 × {rules['work_assessment_weight']}"
        ]
    )


# ------------------------------------------------------------------------------ HTML

GRADE_COLOURS = {"advanced": "#2e7d32", "passing": "#1565c0", "lagging": "#c62828"}
NEUTRAL = "#9e9e9e"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def system_chart(system: dict[str, Any]) -> str:
    """One SVG: per unit, the composite score as a bar (coloured by grade) and the
    satisfaction rate as a dot with its Wilson 95% interval."""
    units = system["units"]
    row_h, top, label_w, bar_w, gap, rate_w = 26, 34, 190, 300, 70, 260
    width = label_w + bar_w + gap + rate_w + 20
    height = top + row_h * max(1, len(units)) + 30
    x0, r0 = label_w, label_w + bar_w + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{_e(system["system_name"])} 单位综合得分与满意率">',
        f'<text x="{x0}" y="16" class="axis-title">综合得分 (0–100)</text>',
        f'<text x="{r0}" y="16" class="axis-title">满意率及95%置信区间</text>',
    ]
    for tick in (0, 60, 75, 100):
        x = x0 + bar_w * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 26}" class="grid"/>'
            f'<text x="{x:.1f}" y="{height - 10}" class="tick">{tick}</text>'
        )
    for tick in (0, 50, 100):
        x = r0 + rate_w * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 26}" class="grid"/>'
            f'<text x="{x:.1f}" y="{height - 10}" class="tick">{tick}%</text>'
        )
    for i, u in enumerate(units):
        y = top + i * row_h
        mid = y + row_h / 2
        rank = u["rank_in_system"]
        label = f"{rank}. {u['unit_name']}" if rank else f"– {u['unit_name']}"
        parts.append(
            f'<text x="{label_w - 8}" y="{mid + 4:.1f}" class="label" text-anchor="end">'
            f"{_e(label)}</text>"
        )
        if u["composite"] is not None:
            w = bar_w * max(0.0, min(100.0, u["composite"])) / 100
            colour = GRADE_COLOURS.get(u["grade_code"] or "", NEUTRAL)
            parts.append(
                f'<rect class="bar" x="{x0}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" '
                f'fill="{colour}"><title>{_e(u["unit_name"])}: {u["composite"]:.2f} '
                f"{_e(u['grade'] or '')}</title></rect>"
                f'<text x="{x0 + w + 4:.1f}" y="{mid + 4:.1f}" class="value">'
                f"{u['composite']:.2f} {_e(u['grade'] or '')}</text>"
            )
        else:
            note = "免评" if u["exempt"] else "无有效样本"
            parts.append(f'<text x="{x0 + 4}" y="{mid + 4:.1f}" class="value muted">{note}</text>')
        if u["satisfaction_rate"] is not None and u["rate_low"] is not None:
            lo = r0 + rate_w * u["rate_low"]
            hi = r0 + rate_w * u["rate_high"]
            cx = r0 + rate_w * u["satisfaction_rate"]
            parts.append(
                f'<line class="interval" x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" '
                f'y2="{mid:.1f}"/>'
                f'<line class="interval" x1="{lo:.1f}" y1="{mid - 5:.1f}" x2="{lo:.1f}" '
                f'y2="{mid + 5:.1f}"/>'
                f'<line class="interval" x1="{hi:.1f}" y1="{mid - 5:.1f}" x2="{hi:.1f}" '
                f'y2="{mid + 5:.1f}"/>'
                f'<circle class="rate" cx="{cx:.1f}" cy="{mid:.1f}" r="4">'
                f"<title>{u['satisfaction_rate']:.1%} ({u['rate_low']:.1%}–"
                f"{u['rate_high']:.1%})</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",
sans-serif;margin:24px;color:#212121;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.chart text{font-size:12px;fill:#212121}.chart .tick{font-size:10px;fill:#757575;
text-anchor:middle}.chart .axis-title{font-size:12px;font-weight:bold}
.chart .grid{stroke:#e0e0e0}.chart .interval{stroke:#37474f;stroke-width:1.5}
.chart .rate{fill:#ff8f00}.muted{fill:#9e9e9e}.rules{color:#555;font-size:13px}
.g-advanced{color:#2e7d32;font-weight:bold}.g-lagging{color:#c62828;font-weight:bold}
"""


def to_html(doc: dict[str, Any]) -> str:
    r = doc["rules"]
    groups = "、".join(f"{_e(g)} {w:g}" for g, w in r["groups"].items())
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{_e(doc['campaign_name'])} 评议结果</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(doc['campaign_name'])} 评议结果</h1>",
        '<p class="rules">'
        f"综合得分 = 问卷得分 × {r['questionnaire_weight']:g} + 工作考核 × "
        f"{r['work_assessment_weight']:g}；问卷得分为各评议主体得分按权重（{groups}）"
        "加权，缺少或样本不足的主体不计且权重重新归一。"
        f"先进: 不少于 {r['advanced_min']:g} 分且不超过系统参评单位的 "
        f"{r['advanced_quota']:.0%}；达标: 不少于 {r['passing_min']:g} 分；"
        "一票否决单位为后进；免评单位不排名、不定等次。"
        f"申诉剔除答卷共 {doc['excluded_responses']} 份。</p>",
    ]
    for s in doc["systems"]:
        score = "—" if s["score"] is None else f"{s['score']:.2f}"
        out.append(
            f'<section class="system" id="sys-{_e(s["system"])}">'
            f"<h2>{_e(s['system_name'])}（系统得分 {score}，"
            f"参评 {s['units_scored']} 个单位）</h2>"
        )
        out.append(system_chart(s))
        out.append(
            "<table><thead><tr><th>排名</th><th>单位</th><th>综合得分</th><th>满意率</th>"
            "<th>有效答卷</th><th>等次</th><th>说明</th></tr></thead><tbody>"
        )
        for u in s["units"]:
            rate = (
                "—"
                if u["satisfaction_rate"] is None
                else f"{u['satisfaction_rate']:.1%}（{u['rate_low']:.1%}–{u['rate_high']:.1%}）"
            )
            grade = u["grade"] or ("免评" if u["exempt"] else "—")
            reason = "；".join(x for x in (u["grade_reason"], u["notes"]) if x)
            composite = "—" if u["composite"] is None else f"{u['composite']:.2f}"
            out.append(
                f"<tr><td class=num>{_e(u['rank_in_system'] or '—')}</td>"
                f"<td>{_e(u['unit_name'])}</td>"
                f"<td class=num>{composite}</td>"
                f"<td class=num>{_e(rate)}</td><td class=num>{u['responses']}</td>"
                f'<td class="g-{_e(u["grade_code"] or "none")}">{_e(grade)}</td>'
                f"<td>{_e(reason)}</td></tr>"
            )
        out.append("</tbody></table></section>")
    out.extend(_overdue_html(doc["overdue"]))
    out.append("</body></html>")
    return "\n".join(out)


#: overdue items listed one by one in the HTML report; the rest are counted per unit
#: (the full list is ``pingyi ledger list --overdue``, the xlsx sheet and ``--json``)
OVERDUE_ROWS = 50


def _overdue_html(items: list[dict[str, Any]]) -> list[str]:
    """Overdue rectification: a table per unit (most overdue first), then the oldest
    items. A page listing thousands of items helps nobody in the office."""
    out = [f"<h2>逾期整改事项（{len(items)} 项）</h2>"]
    if not items:
        out.append("<p>无逾期事项。</p>")
        return out
    by_unit: dict[str, dict[str, Any]] = {}
    for i in items:
        unit = by_unit.setdefault(
            i["unit"],
            {"name": i["unit_name"], "n": 0, "unassigned": 0, "oldest": i["deadline"]},
        )
        unit["n"] += 1
        unit["unassigned"] += not i["responsible"]
        if i["deadline"] and (unit["oldest"] is None or i["deadline"] < unit["oldest"]):
            unit["oldest"] = i["deadline"]
    out.append(
        '<table class="overdue-units"><thead><tr><th>单位</th><th>逾期项数</th>'
        "<th>未指定责任人</th><th>最早期限</th></tr></thead><tbody>"
    )
    for code, unit in sorted(by_unit.items(), key=lambda kv: (-kv[1]["n"], kv[0])):
        out.append(
            f"<tr><td>{_e(code)} {_e(unit['name'])}</td><td class=num>{unit['n']}</td>"
            f"<td class=num>{unit['unassigned']}</td><td>{_e(unit['oldest'])}</td></tr>"
        )
    out.append("</tbody></table>")
    oldest = sorted(items, key=lambda i: (i["deadline"] or "", i["id"]))[:OVERDUE_ROWS]
    shown = f"期限最早的 {len(oldest)} 项" if len(items) > len(oldest) else "全部事项"
    out.append(
        f"<h3>{shown}</h3>"
        '<table class="overdue"><thead><tr><th>编号</th><th>单位</th><th>内容</th>'
        "<th>状态</th><th>责任人</th><th>整改期限</th></tr></thead><tbody>"
    )
    for i in oldest:
        out.append(
            f"<tr><td class=num>{i['id']}</td><td>{_e(i['unit_name'])}</td>"
            f"<td>{_e(i['content'])}</td><td>{_e(i['status'])}</td>"
            f"<td>{_e(i['responsible'] or '未指定')}</td><td>{_e(i['deadline'])}</td></tr>"
        )
    out.append("</tbody></table>")
    if len(items) > len(oldest):
        out.append(
            f"<p class=rules>其余 {len(items) - len(oldest)} 项见 "
            "<code>pingyi ledger list --overdue</code> 或 xlsx 的「逾期整改」工作表。</p>"
        )
    return out


def write_report(
    engine: Engine,
    catalogue: Catalogue,
    campaign: str,
    path: Path,
    *,
    today: dt.date | None = None,
) -> Path:
    """The HTML report, one self-contained file; returns its path."""
    doc = collect(engine, catalogue, campaign, today=today)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_html(doc), encoding="utf-8")
    return path
