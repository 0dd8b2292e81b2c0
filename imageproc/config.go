package imageproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Config holds the Idefics3 image-processor settings, read from a model's
// preprocessor_config.json (and image_seq_len from processor_config.json).
// Missing fields take the defaults of transformers' Idefics3ImageProcessor
// and Idefics3Processor.
type Config struct {
	DoConvertRGB     bool       // do_convert_rgb (decoded images are RGB already)
	DoResize         bool       // do_resize
	DoImageSplitting bool       // do_image_splitting: the default for Process's split argument
	DoRescale        bool       // do_rescale
	DoNormalize      bool       // do_normalize
	DoPad            bool       // do_pad
	LongestEdge      int        // size.longest_edge: the first resize's longest side
	TileSize         int        // max_image_size.longest_edge: side of every tile
	Resample         Filter     // resample (PIL numbering)
	RescaleFactor    float64    // rescale_factor
	ImageMean        [3]float64 // image_mean per channel
	ImageStd         [3]float64 // image_std per channel
	ImageSeqLen      int        // image_seq_len: <image> tokens per tile
}

// DefaultConfig returns Idefics3ImageProcessor's constructor defaults
// (longest edge 4*364, tiles of 364, LANCZOS, 1/255, mean and std 0.5) and
// Idefics3Processor's image_seq_len of 169.
func DefaultConfig() Config {
	return Config{
		DoConvertRGB:     true,
		DoResize:         true,
		DoImageSplitting: true,
		DoRescale:        true,
		DoNormalize:      true,
		DoPad:            true,
		LongestEdge:      4 * 364,
		TileSize:         364,
		Resample:         Lanczos,
		RescaleFactor:    1.0 / 255,
		ImageMean:        [3]float64{0.5, 0.5, 0.5},
		ImageStd:         [3]float64{0.5, 0.5, 0.5},
		ImageSeqLen:      169,
	}
}

// maxConfigSide bounds the sizes a config may ask for, so that a hostile
// config cannot request giant allocations.
const maxConfigSide = 1 << 14

type edgeJSON struct {
	LongestEdge *int `json:"longest_edge"`
}

type preprocessorJSON struct {
	DoConvertRGB     *bool           `json:"do_convert_rgb"`
	DoResize         *bool           `json:"do_resize"`
	DoImageSplitting *bool           `json:"do_image_splitting"`
	DoRescale        *bool           `json:"do_rescale"`
	DoNormalize      *bool           `json:"do_normalize"`
	DoPad            *bool           `json:"do_pad"`
	Size             *edgeJSON       `json:"size"`
	MaxImageSize     *edgeJSON       `json:"max_image_size"`
	Resample         *int            `json:"resample"`
	RescaleFactor    *float64        `json:"rescale_factor"`
	ImageMean        json.RawMessage `json:"image_mean"`
	ImageStd         json.RawMessage `json:"image_std"`
}

type processorJSON struct {
	ImageSeqLen *int `json:"image_seq_len"`
}

// ParseConfig reads preprocessor_config.json and processor_config.json. The
// processor JSON may be nil, in which case ImageSeqLen keeps its default.
func ParseConfig(preprocessorJSONData, processorJSONData []byte) (Config, error) {
	cfg := DefaultConfig()
	var p preprocessorJSON
	if err := json.Unmarshal(preprocessorJSONData, &p); err != nil {
		return Config{}, fmt.Errorf("imageproc: preprocessor_config.json: %w", err)
	}
	setBool := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setBool(&cfg.DoConvertRGB, p.DoConvertRGB)
	setBool(&cfg.DoResize, p.DoResize)
	setBool(&cfg.DoImageSplitting, p.DoImageSplitting)
	setBool(&cfg.DoRescale, p.DoRescale)
	setBool(&cfg.DoNormalize, p.DoNormalize)
	setBool(&cfg.DoPad, p.DoPad)
	if p.Size != nil {
		if p.Size.LongestEdge == nil {
			return Config{}, fmt.Errorf("imageproc: preprocessor_config.json: size needs a longest_edge key")
		}
		cfg.LongestEdge = *p.Size.LongestEdge
	}
	if p.MaxImageSize != nil {
		if p.MaxImageSize.LongestEdge == nil {
			return Config{}, fmt.Errorf("imageproc: preprocessor_config.json: max_image_size needs a longest_edge key")
		}
		cfg.TileSize = *p.MaxImageSize.LongestEdge
	}
	if p.Resample != nil {
		cfg.Resample = Filter(*p.Resample)
	}
	if p.RescaleFactor != nil {
		cfg.RescaleFactor = *p.RescaleFactor
	}
	var err error
	if cfg.ImageMean, err = parseTriple(p.ImageMean, cfg.ImageMean, "image_mean"); err != nil {
		return Config{}, err
	}
	if cfg.ImageStd, err = parseTriple(p.ImageStd, cfg.ImageStd, "image_std"); err != nil {
		return Config{}, err
	}
	if processorJSONData != nil {
		var q processorJSON
		if err := json.Unmarshal(processorJSONData, &q); err != nil {
			return Config{}, fmt.Errorf("imageproc: processor_config.json: %w", err)
		}
		if q.ImageSeqLen != nil {
			cfg.ImageSeqLen = *q.ImageSeqLen
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseTriple reads a per-channel value given either as one number or as a
// list of three numbers.
func parseTriple(raw json.RawMessage, def [3]float64, field string) ([3]float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return def, nil
	}
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		return [3]float64{one, one, one}, nil
	}
	var list []float64
	if err := json.Unmarshal(raw, &list); err != nil {
		return def, fmt.Errorf("imageproc: preprocessor_config.json: %s must be a number or a list of 3 numbers: %w", field, err)
	}
	if len(list) != 3 {
		return def, fmt.Errorf("imageproc: preprocessor_config.json: %s has %d values, want 3", field, len(list))
	}
	return [3]float64{list[0], list[1], list[2]}, nil
}

// Validate checks that the settings are usable.
func (c Config) Validate() error {
	if c.LongestEdge <= 0 || c.LongestEdge > maxConfigSide {
		return fmt.Errorf("imageproc: config: size.longest_edge %d out of range [1, %d]", c.LongestEdge, maxConfigSide)
	}
	if c.TileSize <= 0 || c.TileSize > maxConfigSide {
		return fmt.Errorf("imageproc: config: max_image_size.longest_edge %d out of range [1, %d]", c.TileSize, maxConfigSide)
	}
	if c.Resample != Nearest {
		if _, ok := kernelFor(c.Resample); !ok {
			return fmt.Errorf("imageproc: config: resample %d is not a PIL filter (0-5)", int(c.Resample))
		}
	}
	if math.IsNaN(c.RescaleFactor) || math.IsInf(c.RescaleFactor, 0) || c.RescaleFactor == 0 {
		return fmt.Errorf("imageproc: config: rescale_factor %v is not a finite non-zero number", c.RescaleFactor)
	}
	for i := range 3 {
		if math.IsNaN(c.ImageMean[i]) || math.IsInf(c.ImageMean[i], 0) {
			return fmt.Errorf("imageproc: config: image_mean[%d] = %v is not finite", i, c.ImageMean[i])
		}
		if math.IsNaN(c.ImageStd[i]) || math.IsInf(c.ImageStd[i], 0) || c.ImageStd[i] == 0 {
			return fmt.Errorf("imageproc: config: image_std[%d] = %v is not a finite non-zero number", i, c.ImageStd[i])
		}
	}
	if c.ImageSeqLen < 0 || c.ImageSeqLen > 1<<20 {
		return fmt.Errorf("imageproc: config: image_seq_len %d out of range", c.ImageSeqLen)
	}
	return nil
}
