"""PNG bytes Pillow writes for raw 8-bit pixels, with its defaults (what the original
crypto-gaf's `Image.fromarray(...).save(buffer, format="PNG")` did).

    pillow_png.py EDGE MODE:FILE [MODE:FILE ...]

MODE is L (gray) or RGB; FILE holds EDGE*EDGE pixels, row-major. Prints one JSON line:
{"pillow": "13.0.0", "bytes": [...], "seconds": [...]} in the order given.
"""
import io
import json
import sys
import time

import PIL
from PIL import Image


def main() -> None:
    edge = int(sys.argv[1])
    sizes, seconds = [], []
    for arg in sys.argv[2:]:
        mode, path = arg.split(":", 1)
        with open(path, "rb") as f:
            image = Image.frombytes(mode, (edge, edge), f.read())
        out = io.BytesIO()
        t = time.perf_counter()
        image.save(out, format="PNG")
        seconds.append(time.perf_counter() - t)
        sizes.append(len(out.getvalue()))
    print(json.dumps({"pillow": PIL.__version__, "bytes": sizes, "seconds": seconds}))


if __name__ == "__main__":
    main()
