"""The statistics page's plotly chart: participants, successes and failures per day (by first click)."""

import plotly.graph_objects as go
from django.utils.translation import gettext as _

INK, GRID = "#4a5468", "#eef1f5"


def daily(stats):
    labels = [f"{d['day']:%m-%d}" for d in stats["days"]]
    fig = go.Figure()
    series = (("participants", _("總參與人數"), "#3b82f6"), ("successes", _("成功人數"), "#0f9d7a"))
    for key, name, color in series:
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=[d[key] for d in stats["days"]],
                name=name,
                mode="lines+markers",
                line={"color": color, "width": 2.5},
            )
        )
    fig.add_trace(
        go.Bar(x=labels, y=[d["failures"] for d in stats["days"]], name=_("失敗人數"), marker_color="#ef4444")
    )
    fig.update_layout(
        height=300,
        margin={"l": 48, "r": 16, "t": 12, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"size": 12, "color": INK},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        hovermode="x unified",
    )
    fig.update_xaxes(showgrid=False, type="category")
    fig.update_yaxes(gridcolor=GRID, rangemode="tozero", tickformat=",d")
    return fig.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
