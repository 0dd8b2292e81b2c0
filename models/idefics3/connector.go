// Package idefics3 is the SmolVLM (Idefics3) glue around the SigLIP vision
// tower and the Llama text decoder: the connector (pixel shuffle, then a
// bias-free linear projection to the text hidden size) and the splicing of
// image features into the prompt's <image> token embeddings.
package idefics3

import (
	"fmt"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/models/weights"
)

// Connector maps vision hidden states to text embeddings.
type Connector struct {
	scale     int
	visionDim int
	textDim   int
	proj      kernels.Matrix // [textDim, visionDim*scale²]
}

// LoadConnector reads prefix+"modality_projection.proj.weight".
func LoadConnector(f *format.File, prefix string, scale, visionDim, textDim int) (*Connector, error) {
	return loadConnector(weights.Loader{F: f}, prefix, scale, visionDim, textDim)
}

func loadConnector(l weights.Loader, prefix string, scale, visionDim, textDim int) (*Connector, error) {
	if scale <= 0 {
		return nil, fmt.Errorf("idefics3: scale_factor %d", scale)
	}
	proj, err := l.Matrix(prefix+"modality_projection.proj.weight", textDim, visionDim*scale*scale)
	if err != nil {
		return nil, err
	}
	return &Connector{scale: scale, visionDim: visionDim, textDim: textDim, proj: proj}, nil
}

// TokensPerImage returns how many text tokens one image of n patches becomes.
func (c *Connector) TokensPerImage(n int) int { return n / (c.scale * c.scale) }

// PixelShuffle regroups an side x side grid of d-dim patch states into a
// (side/s) x (side/s) grid of d·s² features, as Idefics3Connector.pixel_shuffle:
// output token (r, c) holds, for hi, wi in [0, s), patch (r·s+hi, c·s+wi) at
// feature offset (hi·s + wi)·d.
func PixelShuffle(dst, x []float32, side, d, s int) {
	out := side / s
	for r := 0; r < out; r++ {
		for c := 0; c < out; c++ {
			tok := dst[(r*out+c)*d*s*s:]
			for hi := 0; hi < s; hi++ {
				for wi := 0; wi < s; wi++ {
					src := x[((r*s+hi)*side+c*s+wi)*d:]
					copy(tok[(hi*s+wi)*d:(hi*s+wi+1)*d], src[:d])
				}
			}
		}
	}
}

// Project turns one image's vision states (n patches in a square grid, row-major)
// into n/scale² text-space features, written to dst.
func (c *Connector) Project(dst, vision []float32, n int) error {
	return c.ProjectWith(dst, vision, n, make([]float32, n*c.visionDim))
}

// ProjectWith is Project using shuffled (n x vision hidden values) as scratch.
func (c *Connector) ProjectWith(dst, vision []float32, n int, shuffled []float32) error {
	side := 0
	for side*side < n {
		side++
	}
	if side*side != n || side%c.scale != 0 {
		return fmt.Errorf("idefics3: %d patches do not form a square grid divisible by %d", n, c.scale)
	}
	if len(vision) != n*c.visionDim || len(shuffled) < n*c.visionDim {
		return fmt.Errorf("idefics3: %d vision values (scratch %d), want %d", len(vision), len(shuffled), n*c.visionDim)
	}
	tokens := n / (c.scale * c.scale)
	if len(dst) < tokens*c.textDim {
		return fmt.Errorf("idefics3: feature buffer of %d, want %d", len(dst), tokens*c.textDim)
	}
	PixelShuffle(shuffled, vision, side, c.visionDim, c.scale)
	kernels.MatMulWidened(dst[:tokens*c.textDim], &c.proj, shuffled[:n*c.visionDim], tokens)
	return nil
}
