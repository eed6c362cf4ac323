"""Drawing the demo world with OpenCV primitives on NumPy arrays: skies, skylines, streets
with cars, landscapes, rooms, people and faces, and the light of the time of day.

Owns :class:`Canvas` (a world being drawn: reflected light, light sources, where they are),
:class:`Sprite` (a moving car), :func:`draw_subject` and the lighting steps
(:func:`shot_gain`, :func:`lit_world`, :func:`light_sprite`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from va_app.datasets.demo.manifest import Size
from va_app.datasets.demo.plan import PEOPLE_SUBJECTS, ShotPlan

Colour = tuple[int, int, int]
#: Paints a shape in place on an image in a colour (a light source, see ``Canvas.light``).
Draw = Callable[[np.ndarray, int | Colour], object]
# Night light comes in several colours (moonlight, fluorescent, neon, haze): it keeps cuts
# between two night shots clearly visible.
NIGHT_TINTS = ((0.28, 0.32, 0.55), (0.22, 0.40, 0.42), (0.40, 0.24, 0.52), (0.30, 0.30, 0.36))
# At night people get a cool key light (RGB gain floor), as films light actors.
NIGHT_KEY_LIGHT = np.array([0.62, 0.66, 0.85])


@dataclass
class Canvas:
    """A world being drawn: reflected-light pixels, light sources, and where the lights are."""

    base: np.ndarray
    glow: np.ndarray
    lit: np.ndarray
    view: tuple[float, float, float, float]
    time_of_day: str
    # The picture right after the sky was painted: where it is unchanged, the sky is open.
    sky: np.ndarray | None = None
    horizon: int = 0
    # Where people are: at night a key light keeps them visible.
    people: np.ndarray | None = None

    @classmethod
    def blank(cls, world: Size, view: tuple, time_of_day: str) -> Canvas:
        w, h = world
        base = np.zeros((h, w, 3), np.uint8)
        return cls(base, np.zeros_like(base), np.zeros((h, w), np.uint8), view, time_of_day)

    @property
    def width(self) -> int:
        return self.base.shape[1]

    @property
    def height(self) -> int:
        return self.base.shape[0]

    def x(self, fraction: float) -> int:
        """World x of a fraction of the view's width."""
        return int(round(self.view[0] + fraction * self.view[2]))

    def y(self, fraction: float) -> int:
        return int(round(self.view[1] + fraction * self.view[3]))

    def px(self, fraction: float) -> int:
        """A length as a fraction of the view's height, in world pixels (at least 1)."""
        return max(1, int(round(fraction * self.view[3])))

    def light(self, draw: Draw, colour: Colour) -> None:
        """Draw a light source: it keeps its colour whatever the time of day.

        ``draw(image, colour)`` paints in place (what it returns, as OpenCV's drawing
        functions return their image, is ignored)."""
        draw(self.glow, colour)
        draw(self.lit, 255)


@dataclass(frozen=True)
class Sprite:
    """A pre-lit moving object (a car): its pixels, mask, start x, y and speed (px/frame)."""

    image: np.ndarray
    mask: np.ndarray
    x0: float
    y: int
    speed: float
    # Pixels that emit light (a police car's light bar): they keep their colour at any hour.
    beacon: np.ndarray | None = None


@dataclass(frozen=True)
class RainVeil:
    """Rain over a filmed frame: a grey, darker picture and streaks that fall frame by frame.

    Drawn in frame space (rain falls past the lens whatever the camera does) from its own seed.
    The streaks lighten what is behind them and fall a few pixels per frame, so consecutive
    frames stay alike and the rain never reads as a cut (a streak that jumps its own length
    each frame, or grey streaks over dark pixels whose hue is noise, did).
    """

    streaks: np.ndarray  # (h, w) float32 in [0, 1]: how much of each pixel is a raindrop
    fall: int  # rows the streaks fall per frame

    @classmethod
    def draw(cls, size: Size, seed: int) -> RainVeil:
        rng = np.random.default_rng(seed)
        w, h = size
        layer = np.zeros((h, w), np.float32)
        slant = rng.uniform(-0.35, 0.35)
        for _ in range(w * h // RAIN_PIXELS_PER_STREAK):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            length = int(rng.integers(h // 14, h // 7))
            cv2.line(layer, (x, y), (x + int(slant * length), y + length), 1.0, 1)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.5) * RAIN_STREAK_STRENGTH
        return cls(np.clip(layer, 0.0, 1.0), max(1, h // RAIN_FALL_FRAMES))

    def over(self, frame: np.ndarray, i: int) -> np.ndarray:
        image = frame.astype(np.float32)
        grey = image.mean(axis=2, keepdims=True)
        image = (image * (1 - RAIN_GREY) + grey * RAIN_GREY) * RAIN_DARKEN
        streaks = np.roll(self.streaks, i * self.fall, axis=0)[:, :, None]
        image = image + RAIN_DROP_LIGHT * streaks
        return np.clip(image, 0, 255).astype(np.uint8)


# Rain: one streak per this many pixels, at this strength, lightening what is behind it by up
# to this much, over a picture mixed this much with its grey and darkened by this factor (an
# overcast sky); a streak falls the frame's height in this many frames.
RAIN_PIXELS_PER_STREAK = 120
RAIN_STREAK_STRENGTH = 0.7
RAIN_DROP_LIGHT = 110.0
RAIN_GREY = 0.45
RAIN_DARKEN = 0.72
RAIN_FALL_FRAMES = 36


def paste_moving(world: np.ndarray, sprite: Sprite, i: int) -> None:
    h, w = sprite.mask.shape
    period = world.shape[1] + w
    x = int(round((sprite.x0 + sprite.speed * i) % period)) - w
    _paste(world, sprite.image, sprite.mask, x, sprite.y)


def _paste(world: np.ndarray, image: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    h, w = mask.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, world.shape[1]), min(y + h, world.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    region = world[y0:y1, x0:x1]
    sub = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    np.copyto(region, image[sub], where=mask[sub][:, :, None] > 0)


# --------------------------------------------------------------------------- light


def shot_gain(plan: ShotPlan, rng: np.random.Generator) -> np.ndarray:
    """RGB multipliers of reflected light for the shot's time of day."""
    if plan.time_of_day == "day":
        gain = np.array([1.0, 1.0, 1.0]) * rng.uniform(0.95, 1.1)
    elif plan.time_of_day == "golden_hour":
        gain = np.array([1.15, 0.82, 0.52]) * rng.uniform(0.9, 1.05)
    else:
        gain = np.array(NIGHT_TINTS[int(rng.integers(len(NIGHT_TINTS)))]) * rng.uniform(0.85, 1.15)
        if plan.interior or plan.subject in PEOPLE_SUBJECTS:
            # Rooms have lamps and people are lit for the camera.
            gain = gain * 1.6
    return gain * rng.uniform(0.95, 1.05, size=3)


def lit_world(canvas: Canvas, gain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Texture noise, the time-of-day light, then the light sources with a soft halo."""
    noisy = _add_noise(canvas.base, rng.uniform(3.0, 7.0), rng)
    world = cv2.transform(noisy, np.diag(gain).astype(np.float32))
    if canvas.people is not None and canvas.time_of_day == "night":
        key = np.maximum(gain, NIGHT_KEY_LIGHT)
        keyed = cv2.transform(noisy, np.diag(key).astype(np.float32))
        np.copyto(world, keyed, where=canvas.people[:, :, None])
    if not canvas.lit.any():
        return world
    lights = np.where(canvas.lit[:, :, None] > 0, canvas.glow, 0).astype(np.uint8)
    np.copyto(world, lights, where=canvas.lit[:, :, None] > 0)
    halo = cv2.GaussianBlur(lights, (0, 0), 4.0)
    return cv2.addWeighted(world, 1.0, halo, 0.6, 0.0)


def _add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    noise: np.ndarray = rng.standard_normal((h, w), dtype=np.float32) * sigma
    # Blurred a little: single-pixel speckle would flicker when the camera moves.
    noise = cv2.GaussianBlur(noise, (0, 0), 1.0)
    return np.clip(image + noise[:, :, None], 0, 255).astype(np.uint8)


def light_sprite(sprite: Sprite, gain: np.ndarray, time_of_day: str) -> Sprite:
    image = cv2.transform(sprite.image, np.diag(gain).astype(np.float32))
    if time_of_day == "night":
        h, w = sprite.mask.shape
        front = w - 3 if sprite.speed >= 0 else 0
        image[h // 2 : h // 2 + 3, front : front + 3] = (255, 240, 170)
    if sprite.beacon is not None:
        image[sprite.beacon] = sprite.image[sprite.beacon]
    return replace(sprite, image=image)


# --------------------------------------------------------------------------- subjects


def draw_subject(canvas: Canvas, plan: ShotPlan, rng: np.random.Generator) -> list[Sprite]:
    """Draw the shot's world into ``canvas``; returns the objects that move."""
    sprites: list[Sprite] = []
    if plan.subject == "skyline":
        _draw_skyline(canvas, rng)
    elif plan.subject == "road":
        sprites = _draw_road(
            canvas, rng, chase=plan.car_chase, police=plan.police_car, n_frames=plan.n_frames
        )
    elif plan.subject == "landscape":
        _draw_landscape(canvas, rng)
    elif plan.subject == "room":
        _draw_room(canvas, rng)
    else:
        _draw_people_shot(canvas, plan, rng)
    if plan.subject not in PEOPLE_SUBJECTS:
        _light_the_sky(canvas, rng)
    return sprites


def _jitter(colour: Sequence[float], rng: np.random.Generator, spread: float = 25) -> Colour:
    c = np.asarray(colour, float) + rng.uniform(-spread, spread, size=3)
    return _colour(np.clip(c, 0, 255))


def _random_colour(rng: np.random.Generator, low: int = 40, high: int = 220) -> Colour:
    return _colour(rng.integers(low, high, size=3))


def _shade(colour: Colour, factor: float) -> Colour:
    return _colour(min(255, c * factor) for c in colour)


def _colour(channels: Iterable[float]) -> Colour:
    """Three channel values as a whole-number colour (each truncated, as ``int`` does)."""
    r, g, b = (int(c) for c in channels)
    return r, g, b


def _box(image: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], colour: int | Colour) -> None:
    """A filled rectangle between two corners."""
    cv2.rectangle(image, p0, p1, colour, -1)


def _disc(centre: tuple[int, int], radius: int) -> Draw:
    """Paints a filled circle (a star, the moon, the sun, a lamp)."""
    return lambda img, colour: cv2.circle(img, centre, radius, colour, -1)


def _filled_box(p0: tuple[int, int], p1: tuple[int, int]) -> Draw:
    """Paints a filled rectangle (a lit window)."""
    return lambda img, colour: _box(img, p0, p1, colour)


def _pick(options: Sequence[Colour], rng: np.random.Generator, spread: float = 12) -> Colour:
    return _jitter(options[int(rng.integers(len(options)))], rng, spread)


SKIES = {
    "day": ((70, 125, 215), (170, 205, 240)),
    "golden_hour": ((95, 80, 150), (255, 185, 100)),
    "night": ((10, 14, 45), (40, 45, 95)),
}


def _draw_sky(canvas: Canvas, horizon: int, rng: np.random.Generator) -> None:
    """A vertical gradient down to ``horizon`` (clouds by day); remembered as open sky."""
    top, bottom = (np.array(_jitter(c, rng, 15), float) for c in SKIES[canvas.time_of_day])
    rows = max(horizon, 1)
    ramp = np.linspace(0.0, 1.0, rows)[:, None] ** rng.uniform(0.6, 1.4)
    canvas.base[:rows] = (top + (bottom - top) * ramp).astype(np.uint8)[:, None, :]
    if canvas.time_of_day == "day":
        _draw_clouds(canvas, horizon, rng)
    canvas.sky = canvas.base.copy()
    canvas.horizon = horizon


def _draw_clouds(canvas: Canvas, horizon: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(0, canvas.width)), int(rng.uniform(0.1, 0.7) * horizon))
        axes = (canvas.px(rng.uniform(0.08, 0.2)), canvas.px(rng.uniform(0.03, 0.06)))
        cv2.ellipse(canvas.base, centre, axes, 0, 0, 360, _jitter((240, 240, 245), rng, 10), -1)


def _light_the_sky(canvas: Canvas, rng: np.random.Generator) -> None:
    """Sun, moon and stars, only where nothing was drawn over the sky."""
    if canvas.sky is None or canvas.time_of_day == "day":
        return
    open_sky = (canvas.base == canvas.sky).all(axis=2)
    glow, lit = canvas.glow.copy(), canvas.lit.copy()
    canvas.glow[:], canvas.lit[:] = 0, 0
    _draw_sky_lights(canvas, canvas.horizon, rng)
    canvas.lit[~open_sky] = 0
    np.copyto(canvas.glow, glow, where=lit[:, :, None] > 0)
    canvas.lit |= lit


def _draw_sky_lights(canvas: Canvas, horizon: int, rng: np.random.Generator) -> None:
    w, sky_rows = canvas.width, max(horizon, 1)
    if canvas.time_of_day == "night":
        stars = zip(rng.integers(0, w, 40), rng.integers(0, sky_rows, 40), strict=True)
        for x, y in stars:
            star = (int(x), int(y))
            canvas.light(_disc(star, 0), (230, 230, 255))
        moon = (int(rng.integers(0, w)), int(rng.uniform(0.1, 0.5) * horizon))
        radius = canvas.px(0.05)
        canvas.light(_disc(moon, radius), (235, 235, 215))
    elif canvas.time_of_day == "golden_hour":
        sun = (int(rng.integers(0, w)), horizon - canvas.px(rng.uniform(0.0, 0.08)))
        radius = canvas.px(0.09)
        canvas.light(_disc(sun, radius), (255, 215, 140))


def _draw_skyline(canvas: Canvas, rng: np.random.Generator) -> None:
    """A wide city: many small buildings along the horizon, water or land in front."""
    horizon = canvas.y(rng.uniform(0.55, 0.72))
    _draw_sky(canvas, horizon, rng)
    ground = (40, 70, 110) if rng.random() < 0.5 else (70, 80, 60)
    canvas.base[horizon:] = _jitter(ground, rng, 20)
    x = -int(rng.integers(0, 10))
    while x < canvas.width:
        width = canvas.px(rng.uniform(0.05, 0.14))
        height = canvas.px(rng.uniform(0.08, 0.42))
        _draw_building(canvas, (x, horizon - height, width, height), rng, window=canvas.px(0.025))
        x += width + int(rng.integers(-2, 3))
    _draw_reflections(canvas, horizon, rng)


def _draw_reflections(canvas: Canvas, horizon: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(3, 9))):
        y = int(rng.integers(horizon + 2, canvas.height))
        x = int(rng.integers(0, canvas.width))
        length = canvas.px(rng.uniform(0.05, 0.2))
        cv2.line(canvas.base, (x, y), (x + length, y), _jitter((150, 160, 170), rng, 30), 1)


def _draw_building(
    canvas: Canvas, rect: tuple[int, int, int, int], rng: np.random.Generator, *, window: int
) -> None:
    """A block ``(x, y, w, h)`` with a grid of windows; some are lit after dusk."""
    x, y, w, h = rect
    body = _jitter((95, 95, 105), rng, 45)
    _box(canvas.base, (x, y), (x + w - 1, y + h + 2), body)
    if w < 2 * window + 2:
        return
    step = window * 2
    cols, rows = max((w - window) // step, 1), max((h - window) // step, 1)
    lit_share = {"night": 0.45, "golden_hour": 0.15, "day": 0.0}[canvas.time_of_day]
    pane = _shade(body, 0.55)
    for r in range(rows):
        for c in range(cols):
            p0 = (x + window + c * step, y + window + r * step)
            p1 = (p0[0] + window - 1, p0[1] + window - 1)
            if rng.random() < lit_share:
                lamp = _jitter((255, 215, 130), rng, 20)
                canvas.light(_filled_box(p0, p1), lamp)
            else:
                _box(canvas.base, p0, p1, pane)


def _draw_road(
    canvas: Canvas,
    rng: np.random.Generator,
    *,
    chase: bool,
    police: bool = False,
    n_frames: int = 48,
) -> list[Sprite]:
    """A street: near buildings or trees, a pavement, a road with lane marks and cars."""
    road_top = canvas.y(rng.uniform(0.5, 0.62))
    road_bottom = canvas.y(rng.uniform(0.92, 1.02))
    horizon = road_top - canvas.px(rng.uniform(0.05, 0.12))
    _draw_sky(canvas, horizon, rng)
    _draw_street_front(canvas, horizon, rng)
    _box(canvas.base, (0, horizon), (canvas.width, road_top), _jitter((150, 145, 135), rng))
    asphalt = _jitter((70, 70, 75), rng, 15)
    _box(canvas.base, (0, road_top), (canvas.width, canvas.height), asphalt)
    _draw_lane_marks(canvas, (road_top + road_bottom) // 2, rng)
    if canvas.time_of_day == "night":
        _draw_street_lamps(canvas, horizon, rng)
    return _cars(
        canvas, (road_top, road_bottom), rng, chase=chase, police=police, n_frames=n_frames
    )


#: A police car crosses this share of the view's width over its shot: it is the car the shot
#: is about, in frame from the first frame to the last (version 3 let it race off screen like
#: the other cars, so most keyframes of a "police car" shot showed none).
POLICE_CROSSING = (0.35, 0.6)


def _in_view(sprite: Sprite, canvas: Canvas, n_frames: int, rng: np.random.Generator) -> Sprite:
    """``sprite`` slowed to cross the middle of the view during the shot, as a camera
    following the chase keeps the pursuer in frame."""
    view_x, view_w = canvas.view[0], canvas.view[2]
    width = sprite.mask.shape[1]
    direction = 1.0 if sprite.speed >= 0 else -1.0
    speed = direction * view_w * rng.uniform(*POLICE_CROSSING) / max(n_frames, 1)
    # paste_moving draws the left edge at (x0 + speed * i) % period - width.
    middle = view_x + view_w * rng.uniform(0.4, 0.6) - width / 2
    period = canvas.width + width
    x0 = (middle + width - speed * n_frames / 2) % period
    return replace(sprite, x0=float(x0), speed=float(speed))


def _draw_street_front(canvas: Canvas, ground: int, rng: np.random.Generator) -> None:
    """Big buildings (cut off by the frame, unlike a skyline) or a row of trees."""
    if rng.random() < 0.7:
        x = -int(rng.integers(0, 20))
        while x < canvas.width:
            w = canvas.px(rng.uniform(0.35, 0.7))
            top = canvas.y(rng.uniform(-0.2, 0.15))
            _draw_building(canvas, (x, top, w, ground - top), rng, window=canvas.px(0.06))
            x += w + int(rng.integers(0, canvas.px(0.08)))
        return
    _box(canvas.base, (0, canvas.y(0.25)), (canvas.width, ground), _jitter((80, 120, 70), rng))
    for _ in range(int(canvas.width / canvas.px(0.2))):
        x = int(rng.integers(0, canvas.width))
        _draw_tree(canvas, (x, ground), canvas.px(rng.uniform(0.25, 0.45)), rng)


def _draw_lane_marks(canvas: Canvas, y: int, rng: np.random.Generator) -> None:
    dash, gap = canvas.px(rng.uniform(0.08, 0.14)), canvas.px(rng.uniform(0.06, 0.12))
    thickness = canvas.px(0.015)
    colour = _jitter((225, 220, 190), rng, 15)
    for x in range(-int(rng.integers(0, dash + gap)), canvas.width, dash + gap):
        _box(canvas.base, (x, y), (x + dash, y + thickness), colour)


def _draw_street_lamps(canvas: Canvas, ground: int, rng: np.random.Generator) -> None:
    spacing = canvas.px(rng.uniform(0.5, 0.9))
    top, radius = ground - canvas.px(0.3), canvas.px(0.025)
    for x in range(int(rng.integers(0, spacing)), canvas.width, spacing):
        cv2.line(canvas.base, (x, ground), (x, top), (60, 60, 60), canvas.px(0.012))
        canvas.light(_disc((x, top), radius), (255, 225, 150))


def _cars(
    canvas: Canvas,
    road: tuple[int, int],
    rng: np.random.Generator,
    *,
    chase: bool,
    police: bool = False,
    n_frames: int = 48,
) -> list[Sprite]:
    """Fast, motion-blurred cars in a chase; otherwise none or a few parked or crawling ones.

    With ``police``, the first car of the chase is a police car, kept in view for the shot's
    ``n_frames`` (:func:`_in_view`)."""
    count = int(rng.integers(2, 5)) if chase else int(rng.integers(0, 4))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    view_x, view_w = canvas.view[0], canvas.view[2]
    sprites = []
    for k in range(count):
        length = canvas.px(rng.uniform(0.28, 0.4))
        if chase:
            speed = direction * view_w * rng.uniform(0.035, 0.06)
            x0 = view_x + view_w * (k / count + rng.uniform(0, 0.15)) + length
        else:
            speed = direction * rng.uniform(0.0, 0.5) * float(rng.random() < 0.5)
            x0 = view_x + view_w * rng.uniform(0, 1) + length
        image, mask, beacon = _car_sprite(
            length, rng, blur=abs(speed) / 2, police=police and k == 0
        )
        y = int(rng.uniform(road[0] - mask.shape[0] * 0.6, road[1] - mask.shape[0]))
        sprites.append(Sprite(image, mask, x0, y, speed, beacon))
    if police and sprites:
        sprites[0] = _in_view(sprites[0], canvas, n_frames, rng)
    return sorted(sprites, key=lambda s: s.y)


POLICE_WHITE = (238, 240, 245)
POLICE_STRIPE = (25, 35, 90)
BEACON_RED, BEACON_BLUE = (255, 40, 40), (40, 90, 255)


def _car_sprite(
    length: int, rng: np.random.Generator, *, blur: float, police: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A side view of a car (body, cabin, windows, wheels), its mask and its light bar's
    pixels (police cars only), blurred by speed."""
    height = max(6, int(length * 0.42))
    image: np.ndarray = np.zeros((height, length, 3), np.uint8)
    mask: np.ndarray = np.zeros((height, length), np.uint8)
    body = _random_colour(rng, 30, 230)
    if police:  # drawn after the colour, so the random stream stays that of any car
        body = POLICE_WHITE
    cabin = (int(length * 0.22), 0), (int(length * 0.72), int(height * 0.45))
    glass = (cabin[0][0] + 2, 2), (cabin[1][0] - 2, cabin[1][1] - 1)
    wheel = max(2, height // 5)
    layers = ((image, body, (120, 150, 170), (20, 20, 20)), (mask, 255, 255, 255))
    for img, paint, window, tyre in layers:
        _box(img, (0, int(height * 0.35)), (length - 1, height - wheel), paint)
        _box(img, *cabin, paint)
        _box(img, *glass, window)
        for wx in (int(length * 0.2), int(length * 0.8)):
            cv2.circle(img, (wx, height - wheel), wheel, tyre, -1)
    beacon = _paint_police_livery(image, cabin, height) if police else None
    if blur >= 1.0:
        k = int(min(blur, 9)) * 2 + 1
        image, mask = cv2.blur(image, (k, 1)), cv2.blur(mask, (k, 1))
        mask = (mask > 100).astype(np.uint8) * 255
        if beacon is not None:
            beacon = cv2.blur(beacon.astype(np.uint8) * 255, (k, 1)) > 100
    return image, mask, beacon


def _paint_police_livery(image: np.ndarray, cabin: tuple, height: int) -> np.ndarray:
    """A dark stripe along the doors and a red-blue light bar on the roof; returns the bar."""
    length = image.shape[1]
    stripe = int(height * 0.55), int(height * 0.68)
    _box(image, (1, stripe[0]), (length - 2, stripe[1]), POLICE_STRIPE)
    (x0, _), (x1, _) = cabin
    bar = max(3, height // 4)
    middle = (x0 + x1) // 2
    _box(image, (x0 + 1, 0), (middle, bar), BEACON_RED)
    _box(image, (middle + 1, 0), (x1 - 1, bar), BEACON_BLUE)
    beacon = np.zeros(image.shape[:2], bool)
    beacon[: bar + 1, x0 + 1 : x1] = True
    return beacon


def _draw_landscape(canvas: Canvas, rng: np.random.Generator) -> None:
    """Rolling hills in three layers under the sky, with a few trees."""
    horizon = canvas.y(rng.uniform(0.4, 0.6))
    _draw_sky(canvas, horizon, rng)
    xs = np.arange(canvas.width)
    green = np.array(_jitter((70, 120, 60), rng, 30), float)
    bottom = [[canvas.width, canvas.height], [0, canvas.height]]
    for layer in range(3):
        amplitude = canvas.px(rng.uniform(0.05, 0.15))
        phase = 2 * math.pi * rng.uniform(1.0, 4.0) * xs / canvas.width + rng.uniform(0, 6)
        ridge = horizon + layer * canvas.px(0.12) - amplitude * (1 - np.sin(phase))
        poly = np.concatenate([np.stack([xs, ridge], 1), bottom]).astype(np.int32)
        cv2.fillPoly(canvas.base, [poly], _shade(tuple(green), 0.7 + 0.2 * layer))
    for _ in range(int(rng.integers(3, 10))):
        foot = (int(rng.integers(0, canvas.width)), int(rng.uniform(horizon, canvas.height)))
        _draw_tree(canvas, foot, canvas.px(rng.uniform(0.15, 0.35)), rng)


def _draw_tree(
    canvas: Canvas, foot: tuple[int, int], height: int, rng: np.random.Generator
) -> None:
    (x, ground), trunk = foot, max(1, height // 10)
    bark = _jitter((90, 65, 40), rng, 15)
    _box(canvas.base, (x - trunk, ground - height // 2), (x + trunk, ground), bark)
    crown = (x, ground - height // 2 - height // 4)
    cv2.circle(canvas.base, crown, height // 3, _jitter((45, 100, 45), rng, 25), -1)


def _draw_room(canvas: Canvas, rng: np.random.Generator, *, furniture: bool = True) -> None:
    """A room: papered wall, wooden floor, a window with the sky outside, furniture, a lamp."""
    floor_y = canvas.y(rng.uniform(0.62, 0.8))
    wall = _random_colour(rng, 90, 230)
    canvas.base[:] = wall
    _draw_wallpaper(canvas, floor_y, wall, rng)
    _draw_floor(canvas, floor_y, rng)
    _draw_window(canvas, floor_y, rng)
    if furniture:
        _draw_furniture(canvas, floor_y, rng)
        _draw_pictures(canvas, rng)
    if canvas.time_of_day != "day" or rng.random() < 0.3:
        _draw_lamp(canvas, floor_y, rng)


def _draw_wallpaper(canvas: Canvas, floor_y: int, wall: Colour, rng: np.random.Generator) -> None:
    stripe = _shade(wall, rng.uniform(0.8, 0.92))
    step = canvas.px(rng.uniform(0.05, 0.12))
    if rng.random() < 0.6:
        for x in range(0, canvas.width, step):
            _box(canvas.base, (x, 0), (x + step // 3, floor_y), stripe)
    _box(canvas.base, (0, floor_y - canvas.px(0.03)), (canvas.width, floor_y), _shade(wall, 0.7))


def _draw_floor(canvas: Canvas, floor_y: int, rng: np.random.Generator) -> None:
    wood = _jitter((140, 95, 60), rng, 35)
    _box(canvas.base, (0, floor_y), (canvas.width, canvas.height), wood)
    step = canvas.px(rng.uniform(0.04, 0.07))
    for y in range(floor_y + step, canvas.height, step):
        cv2.line(canvas.base, (0, y), (canvas.width, y), _shade(wood, 0.75), 1)


def _draw_window(canvas: Canvas, floor_y: int, rng: np.random.Generator) -> None:
    """A window showing the sky of the time of day, with a cross-bar frame."""
    w, h = canvas.px(rng.uniform(0.3, 0.55)), canvas.px(rng.uniform(0.3, 0.45))
    x = canvas.x(rng.uniform(0.05, 0.95)) - w // 2
    y = max(canvas.y(0.08), floor_y - h - canvas.px(rng.uniform(0.15, 0.3)))
    _box(canvas.base, (x, y), (x + w, y + h), _jitter(SKIES[canvas.time_of_day][1], rng, 10))
    frame, thickness = _jitter((235, 235, 225), rng, 15), canvas.px(0.02)
    cv2.rectangle(canvas.base, (x, y), (x + w, y + h), frame, thickness)
    cv2.line(canvas.base, (x + w // 2, y), (x + w // 2, y + h), frame, thickness)
    cv2.line(canvas.base, (x, y + h // 2), (x + w, y + h // 2), frame, thickness)


def _draw_furniture(canvas: Canvas, floor_y: int, rng: np.random.Generator) -> None:
    """Sofas, cupboards, tables: boxes standing on the floor with a darker top."""
    for _ in range(int(rng.integers(1, 4))):
        w, h = canvas.px(rng.uniform(0.25, 0.6)), canvas.px(rng.uniform(0.15, 0.35))
        x = canvas.x(rng.uniform(-0.1, 1.0))
        colour = _random_colour(rng, 40, 200)
        _box(canvas.base, (x, floor_y - h), (x + w, floor_y + canvas.px(0.05)), colour)
        top = floor_y - h + canvas.px(0.04)
        _box(canvas.base, (x, floor_y - h), (x + w, top), _shade(colour, 0.7))


def _draw_pictures(canvas: Canvas, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(0, 3))):
        w, h = canvas.px(rng.uniform(0.12, 0.25)), canvas.px(rng.uniform(0.1, 0.2))
        x, y = canvas.x(rng.uniform(0.0, 0.9)), canvas.y(rng.uniform(0.1, 0.35))
        _box(canvas.base, (x, y), (x + w, y + h), _random_colour(rng))
        cv2.rectangle(canvas.base, (x, y), (x + w, y + h), (60, 45, 30), canvas.px(0.015))


def _draw_lamp(canvas: Canvas, floor_y: int, rng: np.random.Generator) -> None:
    x = canvas.x(rng.uniform(0.1, 0.9))
    top = floor_y - canvas.px(rng.uniform(0.35, 0.55))
    cv2.line(canvas.base, (x, floor_y), (x, top), (50, 45, 40), canvas.px(0.015))
    radius = canvas.px(0.06)
    canvas.light(_disc((x, top), radius), (255, 215, 150))


# --------------------------------------------------------------------------- people

SKIN_TONES = ((250, 210, 180), (230, 180, 140), (200, 150, 110), (160, 110, 75), (110, 75, 50))
HAIR_COLOURS = (
    (30, 25, 20),
    (80, 50, 30),
    (150, 110, 60),
    (220, 190, 120),
    (170, 170, 170),
    (140, 60, 30),
)
# How many people each people subject shows (0: a group of three to six).
PEOPLE_COUNTS = {"single": 1, "two": 2, "group": 0}


def _draw_people_shot(canvas: Canvas, plan: ShotPlan, rng: np.random.Generator) -> None:
    """People in front of a softly blurred room, street or landscape."""
    if plan.interior:
        _draw_room(canvas, rng, furniture=plan.subject != "close_up")
    elif rng.random() < 0.6:
        _draw_plain_street(canvas, rng)
    else:
        _draw_landscape(canvas, rng)
    _light_the_sky(canvas, rng)
    blur = 3.0 if plan.subject == "close_up" else 1.2
    canvas.base[:] = cv2.GaussianBlur(canvas.base, (0, 0), blur)
    before = canvas.base.copy()
    if plan.subject == "close_up":
        _draw_face(canvas, rng)
    else:
        _draw_figures(canvas, PEOPLE_COUNTS[plan.subject], rng)
    # People stand in front of the lamps and lit windows behind them.
    canvas.people = (canvas.base != before).any(axis=2)
    canvas.lit[canvas.people] = 0


def _draw_plain_street(canvas: Canvas, rng: np.random.Generator) -> None:
    pavement = canvas.y(rng.uniform(0.7, 0.85))
    _draw_sky(canvas, pavement, rng)
    _draw_street_front(canvas, pavement, rng)
    _box(canvas.base, (0, pavement), (canvas.width, canvas.height), _jitter((150, 145, 135), rng))


def _draw_face(canvas: Canvas, rng: np.random.Generator) -> None:
    """One big face filling most of the frame's height, with hair, eyes, mouth, shoulders."""
    skin, hair = _pick(SKIN_TONES, rng), _pick(HAIR_COLOURS, rng)
    cx, cy = canvas.x(rng.uniform(0.35, 0.65)), canvas.y(rng.uniform(0.45, 0.55))
    b = canvas.px(rng.uniform(0.3, 0.38))
    a = int(b * rng.uniform(0.7, 0.8))
    clothes = _random_colour(rng, 20, 200)
    image = canvas.base
    cv2.ellipse(image, (cx, cy + 2 * b), (int(a * 2.3), b), 0, 180, 360, clothes, -1)
    _box(image, (cx - a // 2, cy), (cx + a // 2, cy + int(1.3 * b)), skin)
    cv2.ellipse(image, (cx, cy - b // 6), (int(a * 1.12), int(b * 1.05)), 0, 0, 360, hair, -1)
    cv2.ellipse(image, (cx, cy), (a, b), 0, 0, 360, skin, -1)
    fringe = (int(a * 1.05), int(b * 0.4))
    cv2.ellipse(image, (cx, cy - int(b * 0.7)), fringe, 0, 180, 360, hair, -1)
    _draw_features(image, (cx, cy), (a, b), skin)


def _draw_features(
    image: np.ndarray, centre: tuple[int, int], axes: tuple[int, int], skin: Colour
) -> None:
    """Eyes, brows, nose and mouth of a face ellipse."""
    (cx, cy), (a, b) = centre, axes
    eye_y = cy - b // 8
    for side in (-1, 1):
        eye = (cx + side * int(a * 0.4), eye_y)
        cv2.ellipse(image, eye, (max(2, a // 5), max(1, b // 12)), 0, 0, 360, (245, 245, 240), -1)
        cv2.circle(image, eye, max(1, b // 14), (40, 30, 25), -1)
        brow = (eye[0] - a // 5, eye_y - b // 6), (eye[0] + a // 5, eye_y - b // 5)
        cv2.line(image, *brow, (50, 35, 25), max(1, b // 20))
    nose = (cx, eye_y + b // 10), (cx - a // 10, cy + b // 4)
    cv2.line(image, *nose, _shade(skin, 0.8), max(1, b // 25))
    mouth = (a // 3, max(1, b // 10))
    cv2.ellipse(image, (cx, cy + int(b * 0.5)), mouth, 0, 0, 180, (150, 50, 55), -1)


def _draw_figures(canvas: Canvas, count: int, rng: np.random.Generator) -> None:
    """People from the waist up, side by side; ``count`` 0 means a group of three to six."""
    group = count == 0
    count = int(rng.integers(3, 7)) if group else count
    margin = {1: 0.5, 2: 0.28}.get(count, 0.1)
    slots = np.linspace(margin, 1.0 - margin, count) + rng.uniform(-0.04, 0.04, count)
    heights = rng.uniform(0.4, 0.62, count) if group else rng.uniform(0.75, 0.95, count)
    for x, height in zip(slots, heights, strict=True):
        _draw_figure(canvas, (canvas.x(float(x)), canvas.y(1.05)), canvas.px(height), rng)


def _draw_figure(
    canvas: Canvas, foot: tuple[int, int], height: int, rng: np.random.Generator
) -> None:
    """One person: torso and shoulders in clothes, neck, head, hair, eyes."""
    skin, hair = _pick(SKIN_TONES, rng), _pick(HAIR_COLOURS, rng)
    clothes = _random_colour(rng, 20, 220)
    (x, feet), r = foot, max(3, int(height * 0.13))
    head_y = feet - height + r
    shoulders = head_y + int(r * 1.9)
    half_width = int(r * 1.9)
    image = canvas.base
    cv2.ellipse(image, (x, shoulders + r), (half_width, r), 0, 180, 360, clothes, -1)
    _box(image, (x - half_width, shoulders + r), (x + half_width, feet), clothes)
    _box(image, (x - r // 3, head_y + r // 2), (x + r // 3, shoulders), skin)
    cv2.circle(image, (x, head_y), r, skin, -1)
    cv2.ellipse(image, (x, head_y - r // 4), (r, int(r * 0.8)), 0, 180, 360, hair, -1)
    for side in (-1, 1):
        cv2.circle(image, (x + side * r // 3, head_y), max(1, r // 7), (40, 30, 25), -1)
