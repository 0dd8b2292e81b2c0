#!/usr/bin/python3
"""Generates testdata/formats: small images in many encodings and what
Pillow 9.4.0 (Debian 12 python3-pil, libjpeg-turbo 2.1.5, libwebp 1.2.4)
decodes them to, the way transformers.image_utils.load_image does
(ImageOps.exif_transpose, then convert("RGB")), stored as RGB PNG files
named <case>.want.png. Alpha cases also get <case>.white.png: the image
alpha-composited over white (what the HF processors' convert_to_rgb does).
Run from imageproc/testdata: /usr/bin/python3 gen_formats.py"""
import io, os
from PIL import Image, ImageOps
import numpy as np

src = Image.open("bird.jpg").convert("RGB").crop((500, 300, 597, 365))  # 97x65, odd sizes
out = "formats"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
alpha = Image.fromarray(np.tile(np.linspace(0, 255, 97).astype(np.uint8), (65, 1)))

def save(name, im, **kw):
    path = os.path.join(out, name)
    im.save(path, **kw)
    return path

def ref(name, path, white=False):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    im.convert("RGB").save(os.path.join(out, name + ".want.png"))
    if white:
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255))
        Image.alpha_composite(bg, rgba).convert("RGB").save(os.path.join(out, name + ".white.png"))

for sub, tag in ((2, "420"), (1, "422"), (0, "444")):
    ref("jpeg" + tag, save("jpeg%s.jpg" % tag, src, quality=90, subsampling=sub))
ref("jpeg420prog", save("jpeg420prog.jpg", src, quality=85, subsampling=2, progressive=True))
ref("jpeggray", save("jpeggray.jpg", src.convert("L"), quality=90))
ref("jpegcmyk", save("jpegcmyk.jpg", src.convert("CMYK"), quality=90))
# 4:4:0 (h1v2) via a transposed 4:2:2 encode is not possible in PIL; skipped.
for o in range(2, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    ref("orient%d" % o, save("orient%d.jpg" % o, src, quality=90, subsampling=0, exif=exif.tobytes()))

ref("pngrgb", save("pngrgb.png", src))
rgba = src.copy(); rgba.putalpha(alpha)
ref("pngrgba", save("pngrgba.png", rgba), white=True)
ref("pnggray", save("pnggray.png", src.convert("L")))
la = src.convert("L").convert("LA"); la.putalpha(alpha)
ref("pngla", save("pngla.png", la), white=True)
pal = src.quantize(64)
ref("pngpal", save("pngpal.png", pal))
ref("pngpaltrns", save("pngpaltrns.png", pal, transparency=3), white=True)
ref("png1bit", save("png1bit.png", src.convert("1")))
g16 = Image.fromarray((np.asarray(src.convert("L")).astype(np.uint16) * 2).astype(np.uint16))  # mostly > 255
ref("pnggray16", save("pnggray16.png", g16))
ref("gif", save("gif.gif", src.quantize(32)))
ref("giftrns", save("giftrns.gif", src.quantize(32), transparency=5), white=True)
ref("webplossy", save("webplossy.webp", src, quality=80))
ref("webplossless", save("webplossless.webp", src, lossless=True))
ref("webpalpha", save("webpalpha.webp", rgba, quality=80), white=True)

# Resize references: PIL Image.resize of the decoded pngrgb.png with every filter.
os.makedirs("resize", exist_ok=True)
base = Image.open(os.path.join(out, "pngrgb.png")).convert("RGB")
for fname, f in (("nearest", 0), ("lanczos", 1), ("bilinear", 2), ("bicubic", 3), ("box", 4), ("hamming", 5)):
    for w, h in ((40, 30), (200, 131), (97, 30), (50, 65), (13, 7), (1, 1), (301, 2)):
        base.resize((w, h), resample=f).save("resize/%s_%dx%d.png" % (fname, w, h))

# EXIF orientation in PNG (eXIf chunk) and WebP (EXIF chunk).
exif6 = Image.Exif()
exif6[0x0112] = 6
ref("pngorient6", save("pngorient6.png", src, exif=exif6.tobytes()))
exif8 = Image.Exif()
exif8[0x0112] = 8
ref("webporient8", save("webporient8.webp", src, lossless=True, exif=exif8.tobytes()))

# Sampling factors PIL cannot write, encoded with libjpeg-turbo's cjpeg:
# 4:4:0 (h1v2 fancy upsampling) and 4:1:1 (h4v1, plain replication).
import subprocess
src.save("/tmp/gen_formats_src.ppm")
for tag, sample in (("440", "1x2"), ("411", "4x1")):
    path = os.path.join(out, "jpeg%s.jpg" % tag)
    with open(path, "wb") as f:
        subprocess.run(["cjpeg", "-quality", "90", "-sample", sample, "/tmp/gen_formats_src.ppm"], stdout=f, check=True)
    ref("jpeg" + tag, path)

# gifoffset.gif (an 8x5 first frame at (2,3) on a 16x12 screen, transparent
# index 3) was written by Go's image/gif; its references were made with:
#   im = Image.open("formats/gifoffset.gif"); im.convert("RGB").save(...want.png)
#   alpha_composite(white, im.convert("RGBA")).convert("RGB").save(...white.png)
