"""The HTML report's overdue section: counted per unit, then the oldest items only."""

from __future__ import annotations

import re
from typing import Any

from sync.report import OVERDUE_ROWS, _overdue_html


def _item(n: int, unit: str, deadline: str, responsible: str | None) -> dict[str, Any]:
    return {
        "id": n,
        "unit": unit,
        "unit_name": {"E0101": "河西区第一中心小学", "F0204": "挂甲寺房管站"}[unit],
        "content": f"群众评价「服务意识」为不满意（答卷 {n}）𠮷",
        "status": "open" if responsible is None else "assigned",
        "responsible": responsible,
        "deadline": deadline,
    }


def test_many_overdue_items_are_counted_per_unit_and_the_oldest_listed() -> None:
    items = [
        _item(n, "F0204" if n % 3 else "E0101", f"2022-{1 + n % 12:02d}-{1 + n % 28:02d}", None)
        for n in range(1, 121)
    ]
    items[0]["responsible"] = "张三"
    html = "\n".join(_overdue_html(items))
    assert "逾期整改事项（120 项）" in html
    units = re.findall(r"<tr><td>(\w+) [^<]+</td><td class=num>(\d+)</td>", html)
    counted = {code: int(n) for code, n in units}
    assert counted == {"F0204": 80, "E0101": 40}
    assert list(counted) == ["F0204", "E0101"]  # most overdue first
    rows = re.findall(r"<tr><td class=num>(\d+)</td>", html)
    assert len(rows) == OVERDUE_ROWS
    listed = [i for i in items if str(i["id"]) in rows]
    latest_listed = max(i["deadline"] for i in listed)
    assert all(i["deadline"] >= latest_listed for i in items if i not in listed)
    assert f"其余 {120 - OVERDUE_ROWS} 项" in html
    assert "𠮷" in html


def test_few_overdue_items_are_all_listed() -> None:
    items = [_item(n, "E0101", "2022-03-01", "李四") for n in range(1, 4)]
    html = "\n".join(_overdue_html(items))
    assert len(re.findall(r"<tr><td class=num>(\d+)</td>", html)) == 3
    assert "全部事项" in html
    assert "其余" not in html
    assert _overdue_html([])[-1] == "<p>无逾期事项。</p>"
