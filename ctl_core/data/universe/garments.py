"""Silhouettes of the garment categories (tops, bottoms, coats, dresses, sweaters, swimwear, jumpsuits,
socks and tights), one drawer per category: ``drawer(canvas, variant, jitter)``.

``DRAWERS`` maps each category here to its drawer; ``accessories`` has the others.
"""
from __future__ import annotations

import numpy as np

from ctl_core.data.universe.drawing import Canvas, arc

_TOP_TEE = [(.36, .10), (.28, .13), (.08, .30), (.17, .42), (.29, .35), (.29, .95), (.71, .95), (.71, .35),
            (.83, .42), (.92, .30), (.72, .13), (.64, .10)]
_TOP_LONG = [(.38, .08), (.27, .12), (.16, .30), (.07, .80), (.16, .82), (.27, .40), (.28, .95), (.72, .95),
             (.73, .40), (.84, .82), (.93, .80), (.84, .30), (.73, .12), (.62, .08)]


def _shirts(c: Canvas, v: str, j) -> None:
    if v == "tee":
        c.poly(_TOP_TEE)
        c.cut("ellipse", .5, .09, .12, .06)
        c.line(arc(.5, .09, .12, .07, 0, 180), .016)
    elif v == "tank":
        c.poly([(.33, .05), (.40, .05), (.43, .22), (.57, .22), (.60, .05), (.67, .05), (.70, .36), (.72, .95),
                (.28, .95), (.30, .36)])
        c.line([(.40, .05), (.43, .22), (.57, .22), (.60, .05)], .012)
    elif v == "hoodie":
        c.poly(_TOP_LONG)
        c.ellipse(.5, .11, .16, .11)
        c.ellipse(.5, .13, .09, .06, "acc")
        c.rect(.065, .76, .165, .82, "acc")
        c.rect(.835, .76, .935, .82, "acc")
        c.rect(.28, .88, .72, .95, "acc")
        c.poly([(.34, .62), (.66, .62), (.70, .84), (.30, .84)], "acc")
        c.line([(.46, .19), (.45, .40)], .012)
        c.line([(.54, .19), (.55, .40)], .012)
    elif v == "blouse":
        c.poly(_TOP_LONG)
        c.ellipse(.23, .22, .12, .12)
        c.ellipse(.77, .22, .12, .12)
        c.cut("poly", [(.40, .06), (.60, .06), (.5, .26)])
        c.line([(.40, .07), (.5, .26), (.60, .07)], .014)
        for y in (.78, .82):
            c.line([(.07, y), (.16, y + .02)], .012)
            c.line([(.93, y), (.84, y + .02)], .012)
    else:  # shirt
        c.poly(_TOP_LONG)
        c.poly([(.38, .06), (.50, .18), (.43, .24), (.35, .11)], "acc")
        c.poly([(.62, .06), (.50, .18), (.57, .24), (.65, .11)], "acc")
        c.line([(.5, .18), (.5, .95)], .012)
        c.dots([(.53, .30 + k * .14) for k in range(5)], .014)
        c.rect(.07, .74, .16, .80, "acc")
        c.rect(.84, .74, .93, .80, "acc")
        c.line([(.33, .30), (.43, .30)], .01)


def _legs(c: Canvas, top: float, hip: float, crotch: float, hem: float, outer: float, inner: float,
          waist: float = .25) -> None:
    c.poly([(waist, top), (1 - waist, top), (1 - waist + .03, hip), (1 - outer, hem), (1 - inner, hem),
            (.5, crotch), (inner, hem), (outer, hem), (waist - .03, hip)])


def _pants(c: Canvas, v: str, j) -> None:
    shapes = {"straight": (.20, .46), "jeans": (.20, .45), "wide": (.08, .47), "slim": (.28, .45),
              "joggers": (.26, .45)}
    outer, inner = shapes[v]
    _legs(c, .03, .30, .36 + j(.02), .97, outer + j(.02), inner)
    c.line([(.25, .10), (.75, .10)], .012)
    if v == "jeans":
        c.line(arc(.25, .10, .12, .10, 0, 90), .012)
        c.line(arc(.75, .10, .12, .10, 90, 180), .012)
        c.line([(.52, .10), (.52, .28)], .012)
        c.dots([(.30, .06), (.5, .06), (.70, .06)], .012, "metal")
    elif v == "joggers":
        c.rect(.25, .03, .75, .10, "acc")
        c.rect(outer + .01, .90, inner - .01, .97, "acc")
        c.rect(1 - inner + .01, .90, 1 - outer - .01, .97, "acc")
        c.line([(.48, .10), (.46, .22)], .01)
        c.line([(.52, .10), (.54, .22)], .01)
    else:
        mid = (outer + inner) / 2
        c.line([(mid, .32), (mid, .95)], .008)
        c.line([(1 - mid, .32), (1 - mid, .95)], .008)
        c.dots([(.5, .065)], .015, "metal")


def _coats(c: Canvas, v: str, j) -> None:
    hem = {"coat": .97, "trench": .97, "parka": .92, "puffer": .80, "blazer": .78, "bomber": .72}[v]
    c.poly([(.38, .05), (.22, .10), (.12, .30), (.05, .88), (.17, .90), (.25, .46), (.24, hem), (.76, hem),
            (.75, .46), (.83, .90), (.95, .88), (.88, .30), (.78, .10), (.62, .05)])
    if v in ("coat", "trench", "blazer"):
        c.poly([(.40, .05), (.60, .05), (.5, .42)], "acc")
        c.poly([(.38, .05), (.5, .42), (.40, .46), (.33, .20)], "body")
        c.poly([(.62, .05), (.5, .42), (.60, .46), (.67, .20)], "body")
        c.line([(.38, .05), (.5, .42), (.40, .46), (.33, .20), (.38, .05)], .012)
        c.line([(.62, .05), (.5, .42), (.60, .46), (.67, .20), (.62, .05)], .012)
        c.line([(.5, .42), (.5, hem)], .01)
        n_btn = 2 if v == "blazer" else 3
        c.dots([(.44, .50 + k * .10) for k in range(n_btn)], .018, "acc")
        if v != "blazer":
            c.dots([(.56, .50 + k * .10) for k in range(n_btn)], .018, "acc")
        if v == "trench":
            c.rect(.24, .56, .76, .62, "acc")
            c.rect(.46, .55, .54, .63, "metal")
        if v == "blazer":
            c.line([(.30, .62), (.42, .62)], .012)
            c.line([(.58, .62), (.70, .62)], .012)
        c.line([(.07, .80), (.17, .82)], .012)
        c.line([(.93, .80), (.83, .82)], .012)
    elif v == "puffer" or v == "parka":
        if v == "parka":
            c.ellipse(.5, .09, .17, .11)
            c.ellipse(.5, .10, .11, .07, "acc")
            c.rect(.24, .50, .76, .53, "acc")
        for k in range(1, 7):
            y = .08 + k * (hem - .08) / 7
            c.line([(.25, y), (.75, y)], .012)
            c.line([(.14 - .012 * k, y + .04), (.21, y + .02)], .01)
            c.line([(.86 + .012 * k, y + .04), (.79, y + .02)], .01)
        c.line([(.5, .14), (.5, hem)], .016, "metal")
    else:  # bomber
        c.ellipse(.5, .07, .13, .05, "acc")
        c.rect(.24, hem - .07, .76, hem, "acc")
        c.rect(.05, .82, .17, .90, "acc")
        c.rect(.83, .82, .95, .90, "acc")
        c.line([(.5, .10), (.5, hem - .07)], .016, "metal")
        c.line([(.30, .40), (.36, .56)], .012)
        c.line([(.70, .40), (.64, .56)], .012)


def _dresses(c: Canvas, v: str, j) -> None:
    if v == "sundress":
        c.line([(.38, .03), (.39, .22)], .018, "body")
        c.line([(.62, .03), (.61, .22)], .018, "body")
        c.poly([(.34, .20), (.66, .20), (.63, .40), (.88 + j(.03), .88), (.12 + j(.03), .88), (.37, .40)])
        c.line([(.37, .40), (.63, .40)], .014)
    elif v == "maxi":
        c.poly([(.36, .04), (.43, .04), (.5, .14), (.57, .04), (.64, .04), (.66, .22), (.62, .36), (.86, .98),
                (.14, .98), (.38, .36), (.34, .22)])
        c.rect(.37, .33, .63, .37, "acc")
        c.line([(.45, .45), (.34, .96)], .008)
        c.line([(.55, .45), (.66, .96)], .008)
    elif v == "sheath":
        c.poly([(.36, .04), (.64, .04), (.78, .12), (.72, .20), (.66, .20), (.62, .40), (.68, .70), (.64, .90),
                (.36, .90), (.32, .70), (.38, .40), (.34, .20), (.28, .20), (.22, .12)])
        c.cut("ellipse", .5, .04, .09, .05)
        c.line([(.38, .40), (.62, .40)], .012)
    elif v == "slip":
        c.line([(.40, .02), (.38, .18)], .01, "metal")
        c.line([(.60, .02), (.62, .18)], .01, "metal")
        c.poly([(.35, .18), (.5, .26), (.65, .18), (.64, .42), (.72, .90), (.28, .90), (.36, .42)])
    else:  # aline
        c.poly([(.36, .05), (.44, .05), (.5, .14), (.56, .05), (.64, .05), (.74, .12), (.68, .22), (.63, .40),
                (.86, .86), (.14, .86), (.37, .40), (.32, .22), (.26, .12)])
        c.line([(.37, .40), (.63, .40)], .016)
        c.line([(.5, .44), (.5, .84)], .006)


def _skirts(c: Canvas, v: str, j) -> None:
    if v == "pencil":
        c.poly([(.30, .06), (.70, .06), (.73, .40), (.69, .94), (.31, .94), (.27, .40)])
        c.line([(.5, .70), (.5, .94)], .012)
    elif v == "maxi":
        pts = [(.33, .06), (.67, .06)] + [(.90 - k * .08, .96 + .02 * np.sin(k * 2)) for k in range(11)]
        c.poly(pts)
    elif v == "mini":
        c.poly([(.24, .18), (.76, .18), (.88, .70), (.12, .70)])
        c.line([(.24, .24), (.76, .24)], .012)
    else:  # aline, pleated
        c.poly([(.30, .08), (.70, .08), (.88 + j(.02), .86), (.12 + j(.02), .86)])
        if v == "pleated":
            for k in range(1, 8):
                t = k / 8
                c.line([(.30 + .40 * t, .16), (.12 + .76 * t, .85)], .008)
    if v != "mini":
        c.rect(.30, .06, .70, .13, "acc")


def _shorts(c: Canvas, v: str, j) -> None:
    hem = {"board": .78, "denim": .58, "tailored": .66}[v]
    _legs(c, .10, .30, .42, hem, .12 + j(.02), .47, .22)
    c.line([(.22, .17), (.78, .17)], .012)
    if v == "denim":
        c.rect(.11, hem - .07, .475, hem, "acc")
        c.rect(.525, hem - .07, .89, hem, "acc")
        c.line(arc(.22, .17, .10, .09, 0, 90), .012)
        c.line(arc(.78, .17, .10, .09, 90, 180), .012)
    elif v == "board":
        c.line([(.46, .17), (.44, .32)], .012, "acc")
        c.line([(.54, .17), (.56, .32)], .012, "acc")
        c.line([(.15, .45), (.12, hem - .02)], .02, "acc")
        c.line([(.85, .45), (.88, hem - .02)], .02, "acc")
    else:
        c.line([(.30, .20), (.29, hem)], .008)
        c.line([(.70, .20), (.71, hem)], .008)
        c.dots([(.5, .135)], .015, "metal")


def _sweaters(c: Canvas, v: str, j) -> None:
    c.poly([(.38, .10), (.24, .13), (.12, .35), (.06, .80), (.17, .82), (.25, .45), (.25, .90), (.75, .90),
            (.75, .45), (.83, .82), (.94, .80), (.88, .35), (.76, .13), (.62, .10)])
    for x0, x1 in ((.055, .175), (.825, .945)):
        c.rect(x0, .74, x1, .84, "acc")
        for k in range(5):
            x = x0 + (k + .5) * (x1 - x0) / 5
            c.line([(x, .75), (x, .83)], .007)
    c.rect(.25, .83, .75, .93, "acc")
    for k in range(14):
        x = .27 + k * .035
        c.line([(x, .84), (x, .92)], .007)
    if v == "turtleneck":
        c.rect(.38, .00, .62, .14, "acc", radius=.02)
        for k in range(6):
            c.line([(.40 + k * .04, .01), (.40 + k * .04, .13)], .007)
    elif v == "vneck":
        c.cut("poly", [(.38, .09), (.62, .09), (.5, .32)])
        c.line([(.38, .10), (.5, .33), (.62, .10)], .02, "acc")
    elif v == "cardigan":
        c.cut("poly", [(.39, .09), (.61, .09), (.5, .40)])
        c.line([(.39, .10), (.5, .40), (.5, .84)], .016)
        c.dots([(.53, .48 + k * .09) for k in range(4)], .016, "acc")
    else:
        c.cut("ellipse", .5, .10, .12, .05)
        c.line(arc(.5, .10, .12, .06, 0, 180), .025, "acc")


def _swimwear(c: Canvas, v: str, j) -> None:
    if v == "bikini":
        c.poly([(.20, .36), (.46, .36), (.34, .10)])
        c.poly([(.54, .36), (.80, .36), (.66, .10)])
        c.line([(.46, .34), (.54, .34)], .014, "acc")
        c.line([(.34, .10), (.40, .02)], .01, "acc")
        c.line([(.66, .10), (.60, .02)], .01, "acc")
        c.line([(.20, .34), (.06, .40)], .01, "acc")
        c.line([(.80, .34), (.94, .40)], .01, "acc")
        c.poly([(.22, .56), (.78, .56), (.60, .84), (.5, .88), (.40, .84)])
        c.line([(.22, .57), (.10, .54)], .012, "acc")
        c.line([(.78, .57), (.90, .54)], .012, "acc")
    elif v == "trunks":
        _legs(c, .22, .40, .56, .78, .14, .47, .20)
        c.rect(.20, .22, .80, .30, "acc")
        c.line([(.47, .30), (.45, .44)], .012, "acc")
        c.line([(.53, .30), (.55, .44)], .012, "acc")
    else:
        c.poly([(.36, .04), (.41, .04), (.44, .24), (.56, .24), (.59, .04), (.64, .04), (.69, .34), (.64, .60),
                (.74, .82), (.58, .86), (.5, .80), (.42, .86), (.26, .82), (.36, .60), (.31, .34)])
        c.line([(.44, .24), (.5, .30), (.56, .24)], .012)


def _jumpsuits(c: Canvas, v: str, j) -> None:
    inner, outer = (.43, .08) if v == "wide" else (.44, .22)
    if v == "overalls":
        c.rect(.34, .14, .66, .40)
        c.line([(.36, .15), (.30, .01)], .03, "body")
        c.line([(.64, .15), (.70, .01)], .03, "body")
        c.rect(.42, .20, .58, .32, "acc")
        c.dots([(.36, .17), (.64, .17)], .02, "metal")
        _legs(c, .38, .52, .60, .98, outer, inner)
        return
    if v == "tailored":
        c.poly([(.38, .04), (.24, .08), (.12, .30), (.18, .34), (.28, .20), (.30, .42), (.70, .42), (.72, .20),
                (.82, .34), (.88, .30), (.76, .08), (.62, .04)])
        c.cut("poly", [(.42, .03), (.58, .03), (.5, .18)])
    else:
        c.poly([(.36, .02), (.42, .02), (.45, .14), (.55, .14), (.58, .02), (.64, .02), (.68, .22), (.66, .42),
                (.34, .42), (.32, .22)])
    _legs(c, .40, .52, .60, .98, outer, inner, .30)
    c.rect(.30, .38, .70, .44, "acc")


def _socks(c: Canvas, v: str, j) -> None:
    if v == "tights":
        c.poly([(.28, .02), (.72, .02), (.74, .20), (.62, .88), (.74, .95), (.72, .98), (.54, .97), (.52, .30),
                (.48, .30), (.46, .97), (.28, .98), (.26, .95), (.38, .88), (.26, .20)])
        c.rect(.28, .02, .72, .08, "acc")
        return
    top = .04 if v == "knee" else .30
    for dx in (0.0, .40):
        c.poly([(.10 + dx, top), (.34 + dx, top), (.34 + dx, .66), (.50 + dx, .76), (.54 + dx, .86),
                (.48 + dx, .94), (.18 + dx, .94), (.10 + dx, .84)])
        c.rect(.10 + dx, top, .34 + dx, top + .10, "acc")
        c.ellipse(.47 + dx, .86, .07, .07, "acc")
        c.ellipse(.14 + dx, .86, .06, .07, "acc")
        for k in range(5):
            c.line([(.13 + dx + k * .045, top + .01), (.13 + dx + k * .045, top + .09)], .007)


DRAWERS = {
    "Shirts & Tops": _shirts, "Pants": _pants, "Coats & Jackets": _coats, "Dresses": _dresses, "Skirts": _skirts,
    "Shorts": _shorts, "Sweaters": _sweaters, "Swimwear": _swimwear, "Jumpsuits": _jumpsuits,
    "Socks & Tights": _socks,
}
