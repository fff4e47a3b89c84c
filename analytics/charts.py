"""Plotly figures built on the server (plotly.graph_objects → JSON), drawn in the page by the vendored plotly.js.

Each function takes the data a services function returned, so a chart shows exactly what the API and the CSV
give. Missing periods are zeros in the data, so lines and bars never have gaps.
"""

import plotly.graph_objects as go
from django.utils.translation import pgettext

PALETTE = ["#0f9d7a", "#3b82f6", "#f59e0b", "#8b5cf6", "#ef4444"]
INK = "#4a5468"
GRID = "#eef1f5"
FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans TC", "Noto Sans CJK TC", Roboto, sans-serif'


def _layout(fig, *, height=300, legend=True, **extra):
    fig.update_layout(
        height=height,
        margin={"l": 48, "r": 16, "t": 12, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": FONT, "size": 12, "color": INK},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0, "font": {"size": 11}},
        hoverlabel={"font": {"family": FONT}},
        **extra,
    )
    fig.update_xaxes(showgrid=False, linecolor="#cfd5df", tickfont={"color": INK}, type="category")
    fig.update_yaxes(gridcolor=GRID, zeroline=True, zerolinecolor="#cfd5df", rangemode="tozero", tickformat=",d")
    return fig


def to_json(fig):
    """Figure JSON safe to embed in <script type="application/json"> (no raw <, >, &)."""
    return fig.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def overview(data):
    """The four charts of 渠道聯絡人總覽, keyed by metric: cumulative ones as lines, counts as grouped bars."""
    labels = [p["label"] for p in data["periods"]]
    figures = {}
    for metric in ("total_contacts", "bound_valid_contacts", "new_contacts", "unsubscribes"):
        fig = go.Figure()
        for i, series in enumerate(data["series"]):
            color = PALETTE[i % len(PALETTE)]
            name = series["channel"]["name"]
            if metric in ("total_contacts", "bound_valid_contacts"):
                fig.add_trace(
                    go.Scatter(
                        x=labels,
                        y=series[metric],
                        name=name,
                        mode="lines+markers",
                        line={"color": color, "width": 2.5},
                        marker={"size": 6},
                    )
                )
            else:
                fig.add_trace(go.Bar(x=labels, y=series[metric], name=name, marker_color=color))
        _layout(fig, height=320, hovermode="x unified", barmode="group", bargap=0.25)
        figures[metric] = to_json(fig)
    return figures


def _horizontal_bars(rows, *, color, height=None):
    labels = [row["label"] for row in rows][::-1]
    values = [row["count"] for row in rows][::-1]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=color,
            text=[f"{v:,}" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    )
    _layout(fig, height=height or 40 + 30 * len(rows), legend=False)
    fig.update_layout(margin={"l": 8, "r": 40, "t": 8, "b": 24})
    fig.update_yaxes(type="category", automargin=True, gridcolor="rgba(0,0,0,0)", zeroline=False)
    fig.update_xaxes(showgrid=True, gridcolor=GRID, type="linear", rangemode="tozero", tickformat=",d")
    return to_json(fig)


def binding_sources(data):
    return _horizontal_bars(data["methods"], color="#0f9d7a")


def contact_sources(data):
    return _horizontal_bars(data["sources"], color="#3b82f6", height=max(160, 40 + 29 * len(data["sources"])))


def valid_contacts(data):
    names = [row["channel"]["name"] for row in data["channels"]]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=names,
            y=[r["valid"] for r in data["channels"]],
            name=pgettext("analytics", "有效聯絡人"),
            marker_color="#0f9d7a",
        )
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[r["invalid"] for r in data["channels"]],
            name=pgettext("analytics", "取消訂閱 / 封鎖"),
            marker_color="#f0a3a3",
        )
    )
    _layout(fig, barmode="stack", hovermode="x unified", bargap=0.45)
    return to_json(fig)
