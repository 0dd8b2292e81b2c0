package idefics3

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/models"
	"github.com/cellm-ai/cellm-go/models/llama"
	"github.com/cellm-ai/cellm-go/models/siglip"
	"github.com/cellm-ai/cellm-go/models/weights"
)

// Model is a SmolVLM: vision tower, connector and Llama text decoder, all
// read from one .cellm file. It is immutable and safe for concurrent use.
// It is a models.Decoder through its text stack (the embedded *llama.Model);
// images reach the decoder as embeddings (ImageFeatures, Splice).
type Model struct {
	*llama.Model // the text stack, also as Text
	Text         *llama.Model
	Vision       *siglip.Model
	Connector    *Connector
	ImageTokenID int
	// TokensPerImage is the number of <image> tokens one tile becomes.
	TokensPerImage int
	// VisionBatch is the number of tiles ImageFeatures runs through the
	// vision tower together (siglip.Model.EncodeBatch); 0 means
	// DefaultVisionBatch. The activations grow with it (about 35 MB per
	// SmolVLM-256M tile). Set it before the model is used.
	VisionBatch int
}

// DefaultVisionBatch is the tiles per vision tower batch when
// Model.VisionBatch is 0: one, as batching measured no faster with the
// current GEMMs (README, Performance).
const DefaultVisionBatch = 1

// ProjectorConfig is the connector part of the .cellm header
// (source_projector_config).
type ProjectorConfig struct {
	ScaleFactor  int `json:"scale_factor"`
	ImageTokenID int `json:"image_token_id"`
}

// IsVLM reports whether the file holds a vision-language model.
func IsVLM(f *format.File) bool {
	return f.Header.VisionTensorPrefix != "" && len(f.Header.SourceVisionConfig) > 0
}

func init() {
	for _, name := range []string{"idefics3", "smolvlm"} {
		models.Register(name, func(f *format.File, l weights.Loader) (models.Decoder, error) {
			return LoadFrom(f, l)
		})
	}
}

// Load reads a SmolVLM from f.
func Load(f *format.File) (*Model, error) { return LoadFrom(f, weights.Loader{F: f}) }

// LoadFrom is Load reading the tensors through l (which may record them):
// the Llama text stack under the header's text_tensor_prefix, the SigLIP
// tower and the connector.
func LoadFrom(f *format.File, l weights.Loader) (*Model, error) {
	h := &f.Header
	if !IsVLM(f) {
		return nil, fmt.Errorf("idefics3: %s is not a vision-language model (no vision_tensor_prefix / source_vision_config)", h.ModelType)
	}
	var pc ProjectorConfig
	if len(h.SourceProjectorConfig) == 0 {
		return nil, fmt.Errorf("idefics3: header has no source_projector_config")
	}
	if err := json.Unmarshal(h.SourceProjectorConfig, &pc); err != nil {
		return nil, fmt.Errorf("idefics3: source_projector_config: %w", err)
	}
	vcfg, err := siglip.ParseConfig(h.SourceVisionConfig)
	if err != nil {
		return nil, err
	}
	if h.ModelType != "llama" {
		return nil, fmt.Errorf("idefics3: text model_type %q: want llama", h.ModelType)
	}
	text, err := llama.LoadFrom(f, l)
	if err != nil {
		return nil, err
	}
	vision, err := siglip.LoadFrom(l, h.VisionTensorPrefix, vcfg)
	if err != nil {
		return nil, err
	}
	conn, err := loadConnector(l, h.ProjectorTensorPrefix, pc.ScaleFactor, vcfg.HiddenSize, h.HiddenDim)
	if err != nil {
		return nil, err
	}
	side := vcfg.PatchesPerSide()
	if side%pc.ScaleFactor != 0 {
		return nil, fmt.Errorf("idefics3: %d patches per side not divisible by scale_factor %d", side, pc.ScaleFactor)
	}
	if pc.ImageTokenID < 0 || pc.ImageTokenID >= h.VocabSize {
		return nil, fmt.Errorf("idefics3: image_token_id %d outside the vocabulary (%d)", pc.ImageTokenID, h.VocabSize)
	}
	return &Model{Model: text, Text: text, Vision: vision, Connector: conn, ImageTokenID: pc.ImageTokenID,
		TokensPerImage: conn.TokensPerImage(side * side)}, nil
}

// Timing accumulates where image encoding spends its time.
type Timing struct {
	Encode  time.Duration // SigLIP vision tower
	Project time.Duration // pixel shuffle and modality projection
	// OnTile, if not nil, is called after each encoded tile with the number
	// of tiles done and the total (for progress display).
	OnTile func(done, total int)
}

// ImageFeatures encodes n images (pixels [n, 3, S, S], S = the vision
// image_size; masks nil or n pixel masks of S x S) into n x TokensPerImage
// rows of text hidden size. t, if not nil, receives the time spent per stage.
func (m *Model) ImageFeatures(pixels []float32, masks [][]bool, n int, t *Timing) ([]float32, error) {
	c := m.Vision.Config()
	per := c.NumChannels * c.ImageSize * c.ImageSize
	if len(pixels) != n*per {
		return nil, fmt.Errorf("idefics3: %d pixel values for %d images of %dx%dx%d", len(pixels), n, c.NumChannels, c.ImageSize, c.ImageSize)
	}
	if masks != nil && len(masks) != n {
		return nil, fmt.Errorf("idefics3: %d masks for %d images", len(masks), n)
	}
	d := m.Text.Config().Hidden
	out := make([]float32, n*m.TokensPerImage*d)
	var ws siglip.Workspace
	np := c.PatchesPerSide() * c.PatchesPerSide()
	shuffled := make([]float32, np*c.HiddenSize)
	batch := m.VisionBatch
	if batch <= 0 {
		batch = DefaultVisionBatch
	}
	for i := 0; i < n; i += batch {
		b := min(batch, n-i)
		var mask [][]bool
		if masks != nil {
			mask = masks[i : i+b]
		}
		start := time.Now()
		hidden, err := m.Vision.EncodeBatch(&ws, pixels[i*per:(i+b)*per], mask, b)
		if err != nil {
			return nil, fmt.Errorf("images %d-%d: %w", i, i+b-1, err)
		}
		encoded := time.Now()
		for j := i; j < i+b; j++ {
			h := hidden[(j-i)*np*c.HiddenSize : (j-i+1)*np*c.HiddenSize]
			if err := m.Connector.ProjectWith(out[j*m.TokensPerImage*d:(j+1)*m.TokensPerImage*d], h, np, shuffled); err != nil {
				return nil, err
			}
		}
		if t != nil {
			t.Encode += encoded.Sub(start)
			t.Project += time.Since(encoded)
			if t.OnTile != nil {
				t.OnTile(i+b, n)
			}
		}
	}
	return out, nil
}

// EmbedPrompt returns the input embeddings of ids with the k-th <image>
// token's embedding replaced by row k of features.
func (m *Model) EmbedPrompt(ids []int, features []float32) ([]float32, error) {
	d := m.Text.Config().Hidden
	x := make([]float32, len(ids)*d)
	if err := m.Text.Embed(x, ids); err != nil {
		return nil, err
	}
	return x, Splice(x, ids, m.ImageTokenID, features, d)
}

// Splice overwrites, in the embeddings x (one row of hidden values per id),
// the row of the k-th imageToken id with row k of features. The number of
// image tokens must equal the number of feature rows.
func Splice(x []float32, ids []int, imageToken int, features []float32, hidden int) error {
	if hidden <= 0 {
		return fmt.Errorf("idefics3: splice: hidden size %d must be positive", hidden)
	}
	if len(x) != len(ids)*hidden {
		return fmt.Errorf("idefics3: splice: %d embedding values for %d ids of hidden size %d", len(x), len(ids), hidden)
	}
	if len(features)%hidden != 0 {
		return fmt.Errorf("idefics3: splice: %d feature values are not rows of hidden size %d", len(features), hidden)
	}
	rows, n := len(features)/hidden, 0
	for _, id := range ids {
		if id == imageToken {
			n++
		}
	}
	if n != rows {
		return fmt.Errorf("idefics3: splice: %d image tokens (id %d) but %d image feature rows", n, imageToken, rows)
	}
	k := 0
	for i, id := range ids {
		if id == imageToken {
			copy(x[i*hidden:(i+1)*hidden], features[k*hidden:(k+1)*hidden])
			k++
		}
	}
	return nil
}

// Spec returns the text decoder's shape (models.Decoder), under the
// architecture name the file was loaded as (idefics3 or smolvlm).
func (m *Model) Spec() models.Spec { return m.Text.Spec() }
