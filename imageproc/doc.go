// Package imageproc decodes images and reproduces the SmolVLM / Idefics3 image
// preprocessing of Python transformers' Idefics3ImageProcessor (transformers
// 4.47, the slow PIL path) bit for bit.
//
// The pipeline has four parts:
//
//   - Decode reads JPEG, PNG, GIF (first frame) and WebP into 8-bit RGB the
//     way transformers.image_utils.load_image does with Pillow: the EXIF
//     orientation is applied (ImageOps.exif_transpose), then the image is
//     converted like Image.convert("RGB"). JPEGs go through this package's
//     own Huffman decoder (baseline, extended and progressive), libjpeg's
//     islow integer IDCT, its fancy chroma upsampling and fixed-point colour
//     conversion; lossy WebP gets libwebp's limited-range BT.601 conversion
//     and fancy upsampling. A pixel-count cap is checked from the header
//     before any pixel is decoded. Load also applies the first resize while
//     decoding (JPEG and common PNGs are produced row by row), so a big
//     photo never exists whole as RGB.
//   - Resize is a port of Pillow's convolution resampler (Resample.c):
//     LANCZOS, BICUBIC, BILINEAR, BOX and HAMMING with 22-bit fixed-point
//     coefficients, plus NEAREST, bit-exact with Pillow.
//   - Process runs the Idefics3 steps (resize the longest edge, resize to
//     multiples of the tile size, split into tiles plus a global image,
//     rescale, normalize, pad) and returns float32 pixels [N,3,H,W].
//   - ExpandImageTokens and ExpandPrompt build the prompt text for the
//     <image> placeholders exactly as Idefics3Processor does.
//
// # Exactness
//
// Decode + Process equals Python's pixel_values bit for bit (every uint8
// tile and every float32 value) for JPEG, PNG, GIF and WebP (lossy and
// lossless): the decoders match Pillow 9.4 with libjpeg-turbo 2.1 and
// libwebp 1.2. JPEG variants the exact decoder leaves to Go's image/jpeg
// (arithmetic coding, 12-bit, lossless, DNL, missing Huffman tables that
// libjpeg-turbo would take from the standard ones, out-of-sequence restart
// markers) decode within a few levels of Pillow. Not reproduced either:
// libjpeg's block smoothing of progressive files whose scans never complete
// the low AC coefficients, and its handling of coefficient overflow in
// corrupt files.
//
// # Differences from the Python processor on unusual inputs
//
// Decode follows load_image (exif_transpose + convert("RGB")). Handing a
// PIL image of another mode straight to Idefics3ImageProcessor behaves
// differently, and those paths are not reproduced: grayscale and palette
// images are resized with NEAREST there (they pass through PIL mode "P"),
// RGBA images are resized with premultiplied alpha and then composited over
// white (DecodeOptions.CompositeOnWhite composites before resizing instead),
// and CMYK images are misread as RGBA. The Python processor also ignores
// EXIF orientation (see DecodeOptions.IgnoreOrientation).
package imageproc
