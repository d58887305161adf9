"""Silhouettes of the accessory categories (shoes, boots, bags, jewellery, hats, sunglasses, scarves, watches,
belts, gloves, ties), one drawer per category: ``drawer(canvas, variant, jitter)``.

``DRAWERS`` maps each category here to its drawer; ``garments`` has the others.
"""
from __future__ import annotations

import numpy as np

from ctl_core.data.universe.drawing import Canvas, arc


def _shoes(c: Canvas, v: str, j) -> None:
    if v == "sneaker":
        c.poly([(.05, .80), (.05, .50), (.12, .40 + j(.03)), (.30, .41), (.45, .52), (.70, .58), (.88, .62),
                (.97, .72), (.97, .80)])
        c.rect(.03, .76, .99, .88, "acc", radius=.04)
        for k in range(4):
            x = .32 + k * .055
            c.line([(x, .44 + k * .025), (x + .05, .52 + k * .025)], .014)
        c.line([(.22, .70), (.48, .64), (.74, .70)], .02)
        c.line([(.05, .81), (.97, .81)], .008)
    elif v == "pump":
        c.poly([(.06, .36), (.13, .36), (.22, .48), (.45, .58), (.72, .63), (.90, .66), (.97, .72), (.92, .77),
                (.58, .76), (.32, .70), (.16, .62), (.08, .58)])
        c.poly([(.07, .55), (.18, .60), (.16, .94), (.11, .94)], "acc")
        c.line([(.17, .62), (.40, .72), (.92, .76)], .012)
    elif v == "sandal":
        c.poly([(.04, .80), (.90, .73), (.98, .76), (.96, .82), (.05, .88)], "acc")
        c.poly([(.52, .78), (.56, .52), (.70, .50), (.84, .58), (.88, .74)])
        c.line(arc(.17, .74, .09, .24, 180, 360), .04, "body")
        c.line([(.08, .52), (.36, .56)], .04, "body")
        c.rect(.27, .50, .33, .58, "metal")
        c.line([(.60, .56), (.80, .62)], .01)
    else:   # loafer, oxford
        c.poly([(.05, .80), (.06, .55), (.14, .48), (.34, .50), (.55, .55), (.80, .60), (.95, .68), (.97, .80)])
        c.rect(.04, .78, .98, .84, "acc", radius=.02)
        c.rect(.05, .80, .22, .90, "acc")
        c.line(arc(.80, .72, .13, .14, 200, 300), .012)
        if v == "oxford":
            for k in range(3):
                c.line([(.36 + k * .05, .52), (.42 + k * .05, .60)], .014)
        else:
            c.rect(.36, .53, .54, .58, "metal", radius=.01)


def _handbags(c: Canvas, v: str, j) -> None:
    if v == "tote":
        c.poly([(.14, .38), (.86, .38), (.95, .94), (.05, .94)])
        for x in (.36, .64):
            c.line(arc(x, .40, .12, .30 + j(.04), 180, 360), .035, "acc")
        c.line([(.14, .46), (.86, .46)], .01)
    elif v == "top_handle":
        c.rect(.10, .38, .90, .90, radius=.06)
        c.line(arc(.5, .40, .22, .26, 180, 360), .05, "acc")
        c.poly([(.10, .40), (.90, .40), (.90, .60), (.50, .68), (.10, .60)], "acc")
        c.rect(.45, .60, .55, .70, "metal", radius=.01)
    elif v == "clutch":
        c.rect(.05, .40, .95, .76, radius=.05)
        c.line(arc(.5, .40, .36, .34, 180, 360), .012, "metal")
        c.line([(.05, .42), (.5, .62), (.95, .42)], .014)
        c.ellipse(.5, .62, .05, .05, "metal")
    elif v == "crossbody":
        c.rect(.24, .52, .76, .92, radius=.06)
        c.line(arc(.5, .54, .26, .50, 180, 360), .02, "acc")
        c.poly([(.24, .54), (.76, .54), (.76, .72), (.24, .72)], "acc")
        c.rect(.46, .68, .54, .76, "metal")
    else:  # backpack
        c.rect(.18, .14, .82, .96, radius=.16)
        c.line(arc(.5, .16, .10, .10, 180, 360), .03, "acc")
        c.rect(.28, .56, .72, .88, "acc", radius=.06)
        c.line([(.20, .36), (.80, .36)], .014)
        c.rect(.47, .56, .53, .62, "metal")


def _jewelry(c: Canvas, v: str, j) -> None:
    if v == "necklace":
        c.line(arc(.5, .08, .34, .62, 0, 180, 40), .02, "metal")
        c.ellipse(.5, .78, .10, .12, "metal")
        c.ellipse(.5, .78, .07, .09)
        c.dots([(.5 + .34 * np.cos(a), .08 + .62 * np.sin(a)) for a in np.radians([40, 65, 115, 140])], .025,
               "body")
    elif v == "ring":
        c.ellipse(.5, .62, .32, .32, "metal")
        c.ellipse(.5, .62, .24, .24, "metal", value=0)
        c.poly([(.36, .34), (.64, .34), (.58, .24), (.42, .24)], "metal")
        c.ellipse(.5, .22, .14, .13)
        c.line([(.44, .16), (.5, .22), (.56, .16)], .008, "det")
    elif v == "earrings":
        for x in (.3, .7):
            c.line(arc(x, .18, .06, .08, 180, 360), .02, "metal")
            c.line([(x + .06, .18), (x, .34)], .02, "metal")
            c.ellipse(x, .36, .05, .05, "metal")
            c.poly([(x, .40), (x + .12, .66), (x, .90), (x - .12, .66)])
    else:  # bracelet
        c.ellipse(.5, .5, .42, .30, "metal")
        c.ellipse(.5, .5, .34, .22, "metal", value=0)
        for a in np.radians(np.arange(0, 360, 30)):
            c.ellipse(.5 + .38 * np.cos(a), .5 + .26 * np.sin(a), .06, .06)


def _hats(c: Canvas, v: str, j) -> None:
    if v == "fedora":
        c.ellipse(.5, .68, .46, .11 + j(.02))
        c.poly([(.26, .70), (.29, .32), (.40, .24), (.5, .30), (.60, .24), (.71, .32), (.74, .70)])
        c.rect(.265, .56, .735, .64, "acc")
    elif v == "sunhat":
        c.ellipse(.5, .64, .49, .17 + j(.02))
        c.ellipse(.5, .52, .22, .22)
        c.rect(.28, .54, .72, .61, "acc")
        c.line(arc(.5, .64, .40, .12, 20, 160), .008)
    elif v == "cap":
        c.poly([(.62, .58), (.97, .62), (.95, .72), (.60, .68)])
        c.draws["body"].pieslice([*c._xy(.12, .26), *c._xy(.76, .96)], 180, 360, fill=255)
        c.line([(.44, .26), (.44, .61)], .01)
        c.line(arc(.44, .61, .18, .34, 200, 260), .01)
        c.ellipse(.44, .27, .03, .02, "acc")
        c.rect(.12, .58, .62, .63, "acc")
    elif v == "beanie":
        c.ellipse(.5, .58, .32, .40)
        c.rect(.18, .62, .82, .90, "acc", radius=.04)
        for k in range(9):
            x = .22 + k * .07
            c.line([(x, .64), (x, .88)], .008)
        c.ellipse(.5, .16, .10, .09, "acc")
    else:  # boater
        c.ellipse(.5, .66, .46, .09)
        c.rect(.28, .36, .72, .66)
        c.ellipse(.5, .36, .22, .04)
        c.rect(.28, .52, .72, .60, "acc")


def _sunglasses(c: Canvas, v: str, j) -> None:
    if v == "aviator":
        for x in (.28, .72):
            c.poly([(x - .19, .36), (x + .17, .36), (x + .14, .58), (x, .68), (x - .16, .58)], "metal")
            c.poly([(x - .16, .39), (x + .14, .39), (x + .11, .56), (x, .64), (x - .13, .56)], "acc")
        c.line([(.45, .38), (.55, .38)], .02, "metal")
        c.line([(.44, .44), (.56, .44)], .012, "metal")
        c.line([(.09, .37), (.01, .33)], .02, "metal")
        c.line([(.91, .37), (.99, .33)], .02, "metal")
        return
    for x in (.28, .72):
        if v == "round":
            c.ellipse(x, .50, .19, .19)
            c.ellipse(x, .50, .15, .15, "acc")
        elif v == "cateye":
            s = 1 if x < .5 else -1
            c.poly([(x - .20 * s, .30), (x, .38), (x + .18 * s, .38), (x + .15 * s, .60), (x, .66),
                    (x - .16 * s, .58)])
            c.poly([(x - .14 * s, .38), (x + .14 * s, .42), (x + .11 * s, .57), (x, .61), (x - .12 * s, .54)], "acc")
        else:  # wayfarer
            c.rect(x - .20, .34, x + .19, .64, radius=.07)
            c.rect(x - .16, .39, x + .15, .60, "acc", radius=.05)
    c.line([(.44, .44), (.56, .44)], .04, "body")
    c.line([(.09, .40), (.01, .36)], .03, "body")
    c.line([(.91, .40), (.99, .36)], .03, "body")


def _scarves(c: Canvas, v: str, j) -> None:
    if v == "shawl":
        c.poly([(.03, .14), (.97, .14), (.5, .86)])
        for k in range(16):
            t = k / 15
            x0, y0 = .03 + .47 * t, .14 + .72 * t
            c.line([(x0, y0), (x0 - .03, y0 + .08)], .008, "body")
            c.line([(1 - x0, y0), (1 - x0 + .03, y0 + .08)], .008, "body")
        c.line([(.05, .18), (.95, .18)], .01)
    elif v == "infinity":
        c.ellipse(.5, .5, .42, .34)
        c.ellipse(.5, .52, .22, .14, value=0)
        for k in range(5):
            c.line(arc(.5, .5, .32 + k * .02, .26 + k * .015, 200 + k * 10, 340 - k * 10), .008)
    else:  # long: a wavy band laid flat, fringed at both ends
        t = np.linspace(0, 1, 24)
        xs = .5 + .16 * np.sin(2 * np.pi * .8 * t + .6 + j(.3))
        ys = .10 + .76 * t
        half = .16
        c.poly([(x - half, y) for x, y in zip(xs, ys)] + [(x + half, y) for x, y in zip(xs[::-1], ys[::-1])])
        for end, dy in ((0, -1), (-1, 1)):
            for k in range(7):
                x = xs[end] - half + .02 + k * (2 * half - .04) / 6
                c.line([(x, ys[end]), (x, ys[end] + dy * .08)], .008, "body")
            c.line([(xs[end] - half, ys[end] - dy * .04), (xs[end] + half, ys[end] - dy * .04)], .01, "acc")
        for k in (6, 12, 18):
            c.line([(xs[k] - half * .7, ys[k] - .02), (xs[k] + half * .7, ys[k] + .02)], .006)


def _watches(c: Canvas, v: str, j) -> None:
    strap = "body" if v == "sport" else "acc"
    c.rect(.38, .02, .62, .98, strap, radius=.05)
    c.dots([(.5, .82 + k * .05) for k in range(3)], .012, "det")
    if v == "square":
        c.rect(.24, .26, .76, .74, "metal", radius=.06)
        c.rect(.29, .31, .71, .69, "det", radius=.04)
        c.rect(.305, .325, .695, .675, "det", radius=.04, value=0)
        face = "det"
    else:
        c.ellipse(.5, .5, .27, .27, "body" if v == "sport" else "metal")
        c.ellipse(.5, .5, .21, .21, "det")
        c.ellipse(.5, .5, .195, .195, "det", value=0)
        face = "det"
    c.rect(.76, .46, .80, .54, "metal")
    c.line([(.5, .5), (.5, .36)], .022, face)
    c.line([(.5, .5), (.61, .55)], .018, face)
    for a in np.radians(np.arange(0, 360, 90)):
        c.line([(.5 + .15 * np.cos(a), .5 + .15 * np.sin(a)), (.5 + .18 * np.cos(a), .5 + .18 * np.sin(a))],
               .015, face)


def _belts(c: Canvas, v: str, j) -> None:
    h = {"casual": .16, "classic": .12, "wide": .24}[v]
    y0, y1 = .5 - h / 2, .5 + h / 2
    c.rect(.02, y0, .70, y1, radius=.02)
    c.rect(.80, y0 + .01, .98, y1 - .01)
    c.line([(.02, y0 + .02), (.70, y0 + .02)], .006)
    c.line([(.02, y1 - .02), (.70, y1 - .02)], .006)
    if v == "wide":
        c.ellipse(.76, .5, .10, h / 2 + .08, "metal")
        c.ellipse(.76, .5, .06, h / 2 + .02, "metal", value=0)
    else:
        c.rect(.68, y0 - .06, .82, y1 + .06, "metal", radius=.02)
        c.rect(.71, y0 - .03, .79, y1 + .03, "metal", value=0)
        c.line([(.71, .5), (.82, .5)], .016, "metal")
    c.dots([(.86 + k * .035, .5) for k in range(3)], .012, "det")


def _boots(c: Canvas, v: str, j) -> None:
    top = {"knee": .02, "chelsea": .34, "combat": .22, "snow": .26}[v]
    if v == "knee":
        c.poly([(.24, top), (.54, top), (.52, .62), (.80, .72), (.94, .80), (.95, .88), (.26, .88), (.24, .50)])
        c.rect(.24, .86, .36, .98, "acc")
        c.rect(.36, .86, .95, .90, "acc")
        c.line([(.50, .06), (.49, .60)], .01, "metal")
    else:
        c.poly([(.18, top), (.50, top), (.52, .60), (.80, .68), (.95, .76), (.96, .86), (.18, .86)])
        sole = .96 if v in ("combat", "snow") else .92
        c.rect(.16, .84, .98, sole, "acc", radius=.02)
        if v == "chelsea":
            c.poly([(.40, top + .02), (.50, top + .02), (.48, .56), (.44, .56)], "acc")
            c.line([(.30, top - .02), (.30, top + .04)], .03, "acc")
        elif v == "combat":
            for k in range(6):
                y = top + .05 + k * .065
                c.line([(.42, y), (.54, y + .04)], .014)
                c.line([(.54, y), (.42, y + .04)], .014)
            c.line([(.16, .93), (.98, .93)], .01)
        else:  # snow
            c.rect(.12, top - .06, .56, top + .12, "acc", radius=.06)
            c.line([(.20, .66), (.90, .74)], .01)


def _gloves(c: Canvas, v: str, j) -> None:
    for dx in (0.0, .47):
        if v == "mittens":
            c.rect(.08 + dx, .18, .42 + dx, .66, radius=.15)
            c.poly([(.08 + dx, .44), (.02 + dx, .30), (.08 + dx, .24), (.16 + dx, .40)])
            c.ellipse(.06 + dx, .30, .05, .09)
        else:
            c.rect(.12 + dx, .34, .42 + dx, .68, radius=.05)
            for k, h in enumerate((.16, .08, .10, .18)):
                x = .13 + dx + k * .073
                c.rect(x, h, x + .062, .40, radius=.03)
            c.poly([(.12 + dx, .56), (.02 + dx, .38), (.07 + dx, .34), (.16 + dx, .46)])
        c.rect(.10 + dx, .66, .44 + dx, .86, "acc", radius=.02)


def _ties(c: Canvas, v: str, j) -> None:
    if v == "bowtie":
        c.poly([(.06, .26), (.44, .44), (.44, .56), (.06, .74), (.10, .50)])
        c.poly([(.94, .26), (.56, .44), (.56, .56), (.94, .74), (.90, .50)])
        c.rect(.40, .38, .60, .62, "body", radius=.04)
        c.line([(.42, .40), (.42, .60)], .01)
        c.line([(.58, .40), (.58, .60)], .01)
        return
    w = .09 if v == "skinny" else .14
    c.poly([(.41, .03), (.59, .03), (.56, .15), (.44, .15)])
    c.poly([(.44, .15), (.56, .15), (.5 + w, .84), (.5, .97), (.5 - w, .84)])
    c.line([(.44, .15), (.56, .15)], .012)
    c.line([(.46, .17), (.5 + w - .04, .60)], .006)


DRAWERS = {
    "Shoes": _shoes, "Handbags": _handbags, "Jewelry": _jewelry, "Hats": _hats, "Sunglasses": _sunglasses,
    "Scarves & Shawls": _scarves, "Watches": _watches, "Belts": _belts, "Boots": _boots, "Gloves": _gloves,
    "Ties": _ties,
}
