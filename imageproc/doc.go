// Package imageproc decodes images and reproduces the SmolVLM / Idefics3 image
// preprocessing of Python transformers' Idefics3ImageProcessor (transformers
// 4.47, the slow PIL path) bit for bit.
//
// The pipeline has four parts:
//
//   - Decode reads JPEG, PNG, GIF (first frame) and WebP into 8-bit RGB the
//     way transformers.image_utils.load_image does with Pillow: the EXIF
//     orientation is applied (ImageOps.exif_transpose), then the image is
//     converted like Image.convert("RGB"). JPEG chroma gets libjpeg-turbo's
//     "fancy" (triangular) upsampling and fixed-point colour conversion;
//     lossy WebP gets libwebp's limited-range BT.601 conversion and fancy
//     upsampling. A pixel-count cap is checked from the header before any
//     pixel is decoded.
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
// Given Pillow's decoded RGB, Process equals Python's pixel_values bit for
// bit (every uint8 tile and every float32 value). PNG, GIF and WebP (lossy
// and lossless) decode exactly as Pillow 9.4 does. JPEG decoding uses Go's
// image/jpeg for entropy decoding and the IDCT, which rounds differently
// from libjpeg-turbo's islow IDCT: on the SmolVLM test photos the RGB
// differs by at most 3 levels, mean 0.03 (about 3% of the bytes), against
// at most 27 levels, mean 0.72, for image/jpeg's own colour conversion.
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
