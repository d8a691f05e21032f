"""Draw the bundled example images: frame 0 of videos of the synthetic world (`artv data synth`).

Run from the repository root: `python examples/make_examples.py`. Each image comes with the prompt the
README and docs use for it (examples/prompts.txt); the default model was trained on this world.
"""

from pathlib import Path

from PIL import Image

from artv_cli.engine.data.synth import SynthObject, SynthSettings, SynthVideo, draw_frame

# file, shape, colour, direction, speed, background tone, centre at frame 0 (frame widths)
EXAMPLES = [
    ("red-ball.png", "circle", "red", "right", "quickly", "grey", (0.35, 0.5)),
    ("blue-square.png", "square", "blue", "up", "quickly", "olive", (0.5, 0.68)),
    ("yellow-triangle.png", "triangle", "yellow", "down and to the left", "slowly", "black", (0.62, 0.38)),
]


def main() -> None:
    folder = Path(__file__).parent
    settings = SynthSettings()
    lines = []
    for name, shape, colour, direction, speed, tone, centre in EXAMPLES:
        obj = SynthObject(shape, colour, direction, speed, radius=0.12, start=centre, velocity=(0.0, 0.0))
        article = "an" if colour[0] in "aeiou" else "a"
        prompt = f"{article} {colour} {shape} moves {direction} {speed}, on a plain {tone} background"
        video = SynthVideo(0, prompt, "plain", (tone, "black"), "static", None, [obj])
        Image.fromarray(draw_frame(video, 0, settings)).save(folder / name)
        lines.append(f"{name}\t{prompt}")
    (folder / "prompts.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
