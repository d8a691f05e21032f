"""The synthetic world's vocabulary: colours, background tones, shapes, directions, speeds, cameras.

Shared by the drawing (`synth`), the captions (`captions`) and the scorer, so each says the same thing.
"""

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 230),
    "yellow": (240, 210, 40),
    "magenta": (210, 50, 200),
    "cyan": (40, 200, 210),
    "white": (245, 245, 245),
    "orange": (245, 140, 30),
}
NEW_COLOURS = {"pink": (250, 150, 190)}
"""Colours drawn only when asked (`artv data synth --colours pink`): concepts to teach an adapter; at least
60 per channel from every palette colour, so the scorer never takes one for the other."""
ALL_COLOURS = COLOURS | NEW_COLOURS
BACKGROUND_TONES = {
    "grey": (110, 110, 110),
    "black": (20, 20, 20),
    "navy": (25, 35, 80),
    "olive": (90, 95, 40),
    "brown": (100, 65, 40),
    "teal": (30, 95, 95),
}
SHAPES = ("circle", "square", "triangle", "diamond")
"""The shapes of the world (what the default model was trained on)."""
NEW_SHAPES = ("ring",)
"""Shapes drawn only when asked (`artv data synth --shapes ring`): concepts to teach an adapter."""
ALL_SHAPES = SHAPES + NEW_SHAPES
PATTERNS = ("plain", "striped", "checkered")
# Direction words and unit vectors in image coordinates (x right, y down).
DIRECTIONS = {
    "right": (1.0, 0.0),
    "left": (-1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up and to the right": (0.7071, -0.7071),
    "up and to the left": (-0.7071, -0.7071),
    "down and to the right": (0.7071, 0.7071),
    "down and to the left": (-0.7071, 0.7071),
}
# Distance travelled over the whole clip, in frame widths.
SPEEDS = {"slowly": 0.25, "quickly": 0.55}
CAMERAS = ("static", "pan", "zoom")
